"""Descriptors that turn the request builders of `_calls` into client methods.

A builder is generated once per RPC (`_calls.create_user(*, user_name, ...) -> Call[...]`);
declaring ``create_user = rpc(_calls.create_user)`` on the shared method table (`_api`, also
generated) gives `Client` a method returning the response and `AsyncClient` one returning an
awaitable of it, both with the builder's exact keyword signature for type checkers.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, overload

from google.protobuf.message import Message

from iamd_client._call import Call
from iamd_client.errors import InternalError

P = ParamSpec("P")
R = TypeVar("R", bound=Message)
T = TypeVar("T")


class SyncInvoker(abc.ABC):
    """A client that runs calls synchronously."""

    @abc.abstractmethod
    def _invoke(self, call: Call[R]) -> R: ...

    @abc.abstractmethod
    def _paginate(self, first: Call[R], items: Callable[[R], Iterable[T]]) -> Iterator[T]: ...


class AsyncInvoker(abc.ABC):
    """A client that runs calls on asyncio."""

    @abc.abstractmethod
    def _invoke(self, call: Call[R]) -> Coroutine[Any, Any, R]: ...

    @abc.abstractmethod
    def _paginate(self, first: Call[R], items: Callable[[R], Iterable[T]]) -> AsyncIterator[T]: ...


class rpc(Generic[P, R]):  # noqa: N801 - used like a decorator, reads as a keyword
    """Bind a request builder as a client method (one RPC call)."""

    def __init__(self, build: Callable[P, Call[R]]) -> None:
        self._build = build
        self._name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> rpc[P, R]: ...
    @overload
    def __get__(self, obj: SyncInvoker, objtype: type | None = None) -> Callable[P, R]: ...
    @overload
    def __get__(
        self, obj: AsyncInvoker, objtype: type | None = None
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, obj: object, objtype: type | None = None) -> object:
        if obj is None:
            return self
        build = self._build
        invoke: Callable[[Call[R]], object] = obj._invoke  # type: ignore[attr-defined]

        def method(*args: P.args, **kwargs: P.kwargs) -> object:
            return invoke(build(*args, **kwargs))

        method.__name__ = self._name
        method.__doc__ = self.__doc__
        return method


class pager(Generic[P, R, T]):  # noqa: N801
    """Bind a List builder as an iterator over the items of every page."""

    def __init__(self, build: Callable[P, Call[R]], items: Callable[[R], Iterable[T]]) -> None:
        self._build = build
        self._items = items
        self._name = build.__name__
        self.__doc__ = (
            f"Iterate over all items, following markers; max_items sets the page size.\n\n"
            f"{build.__doc__ or ''}"
        )

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> pager[P, R, T]: ...
    @overload
    def __get__(
        self, obj: SyncInvoker, objtype: type | None = None
    ) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, obj: AsyncInvoker, objtype: type | None = None
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: object, objtype: type | None = None) -> object:
        if obj is None:
            return self
        build, items = self._build, self._items
        paginate: Callable[..., object] = obj._paginate  # type: ignore[attr-defined]

        def method(*args: P.args, **kwargs: P.kwargs) -> object:
            return paginate(build(*args, **kwargs), items)

        method.__name__ = self._name
        method.__doc__ = self.__doc__
        return method


def next_page(call: Call[R], response: Message) -> Call[R] | None:
    """The call for the page after `response` (the answer to `call`), or None at the end."""
    marker: str = getattr(response, "marker", "")
    if not getattr(response, "is_truncated", False) or not marker:
        return None
    if marker == getattr(call.request, "marker", ""):
        # A server that hands back the same marker would loop forever.
        raise InternalError(f"{call.rpc}: server returned the same marker twice")
    request = type(call.request)()
    request.CopyFrom(call.request)
    setattr(request, "marker", marker)  # noqa: B010 - every List request has `marker`
    return Call(call.method, request, call.response_type, call.idempotent, call.signed)
