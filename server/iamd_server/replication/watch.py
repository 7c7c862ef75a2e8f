"""ReplicationService.Watch: what a follower needs to decide, kept current.

One `WatchStream` per call. It subscribes to the change log before reading anything, so no
change can slip between a read and the subscription; then it loads and sends the items the
caller names (all of them, or on a resume only those the log says changed), closes that
batch with the revision it now reflects, and from then on, per batch of notifications,
re-sends whole every followed item a notification touches (by the same dependency keys as
the server's caches) and closes the batch with the notification's revision. The exact
guarantee is in proto/iamd/v1/replication.proto.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from iamd.v1 import replication_pb2 as pb
from iamd_client import replication_messages as messages
from iamd_policy import Decision

from iamd_server.authn.authenticator import Caller
from iamd_server.authn.crypto import MasterKey
from iamd_server.authn.sessions import SessionAuthority
from iamd_server.authz.decisions import Outcome
from iamd_server.errors import InvalidArgument, LimitExceeded, PermissionDenied, Unavailable
from iamd_server.replication import keys as scoped
from iamd_server.replication.changelog import ALL, ChangeLog
from iamd_server.replication.records import (
    INDEX_KEY,
    SERVICES_KEY,
    RecordCache,
    expand,
    key_dependencies,
    principal_dependencies,
    resource_dependencies,
)
from iamd_server.replication.sessions import (
    is_session_key_id,
    is_token,
    session_dependencies,
    session_state,
    token_hash,
)
from iamd_server.store.records import PrincipalPolicies

WATCH_ACTION = "iamd:Watch"
MAX_ITEMS_PER_REQUEST = 10_000
MAX_ITEMS_PER_STREAM = 200_000
# Notifications a stream may have queued before it is ended (a caller too slow to read
# resumes from its last revision instead of holding memory here).
MAX_PENDING = 10_000
HEARTBEAT_SECONDS = 2.0
# Longest wait for this replica to reach the revision a caller resumes from.
RESUME_WAIT_SECONDS = 5.0
# Target size of one response message (a snapshot is split into several).
CHUNK_BYTES = 1 << 20
# Loads in flight at once when many items are read (the pool has ~10 connections).
LOAD_CONCURRENCY = 16

_KEY_ID = re.compile(r"AKIA[A-Z2-7]{16}", re.ASCII)

Principal = "p"
AccessKey = "k"
Resource = "r"
Session = "s"
Item = tuple[str, str]  # (kind, ARN, key id or session token hash)
Tokens = dict[str, tuple[str, str]]  # session token hash -> (key id, token)


class RevisionFeed(Protocol):
    @property
    def applied_revision(self) -> int: ...
    async def wait_for(self, revision: int, timeout: float | None) -> bool: ...


class Authorizer(Protocol):
    async def allows(self, caller: Caller, action: str, resource_arn: str) -> Outcome: ...


def _is_arn(value: str) -> bool:
    return (
        value.startswith("arn:")
        and len(value) <= 2048
        and value.count(":") >= 5
        and value.isascii()
        and value.isprintable()
    )


def items_of(selection: pb.Selection, field: str, tokens: Tokens | None = None) -> list[Item]:
    """The items a Selection names, checked field by field; session tokens are put in
    ``tokens`` by their hash (the item's name)."""
    total = (
        len(selection.principal_arns)
        + len(selection.access_key_ids)
        + len(selection.resource_arns)
        + len(selection.sessions)
    )
    if total > MAX_ITEMS_PER_REQUEST:
        raise InvalidArgument(field, f"at most {MAX_ITEMS_PER_REQUEST} items per request")
    items: list[Item] = []
    for index, arn in enumerate(selection.principal_arns):
        if not _is_arn(arn):
            raise InvalidArgument(f"{field}.principal_arns[{index}]", "must be a principal ARN")
        items.append((Principal, arn))
    for index, key_id in enumerate(selection.access_key_ids):
        if _KEY_ID.fullmatch(key_id) is None:
            raise InvalidArgument(
                f"{field}.access_key_ids[{index}]", "must be an access key id (AKIA...)"
            )
        items.append((AccessKey, key_id))
    for index, arn in enumerate(selection.resource_arns):
        if not _is_arn(arn):
            raise InvalidArgument(f"{field}.resource_arns[{index}]", "must be an ARN")
        items.append((Resource, arn))
    for index, ref in enumerate(selection.sessions):
        if not is_token(ref.session_token):
            raise InvalidArgument(f"{field}.sessions[{index}].session_token", "must be a token")
        if not is_session_key_id(ref.access_key_id):
            raise InvalidArgument(
                f"{field}.sessions[{index}].access_key_id", "must be an access key id (ASIA...)"
            )
        name = token_hash(ref.access_key_id, ref.session_token)
        if tokens is not None:
            tokens[name] = (ref.access_key_id, ref.session_token)
        items.append((Session, name))
    return items


class _Batch:
    """Accumulates states and writes them in messages of about CHUNK_BYTES."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        self._write = write
        self.message = pb.WatchResponse()
        self._size = 0

    async def add_size(self, size: int) -> None:
        self._size += size
        if self._size >= CHUNK_BYTES:
            await self._write(self.message.SerializeToString())
            self.message = pb.WatchResponse()
            self._size = 0

    async def close(self, revision: int) -> None:
        """Writes what is left; a non-zero ``revision`` completes the batch."""
        self.message.revision = revision
        if self.message.ByteSize():
            await self._write(self.message.SerializeToString())
        self.message = pb.WatchResponse()
        self._size = 0


class ReplicationServicer:
    """Serves Watch streams from the shared record cache and change log."""

    def __init__(
        self,
        records: RecordCache,
        log: ChangeLog,
        feed: RevisionFeed,
        authorizer: Authorizer,
        master_key: MasterKey,
        audience: str,
        *,
        sessions: SessionAuthority | None = None,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.records = records
        self.sessions = sessions
        self.log = log
        self.feed = feed
        self.authorizer = authorizer
        self.master_key = master_key
        self.audience = audience
        self.heartbeat = heartbeat

    async def watch(
        self,
        caller: Caller,
        first: pb.WatchRequest,
        read: Callable[[], Awaitable[pb.WatchRequest | None]],
        write: Callable[[bytes], Awaitable[None]],
    ) -> None:
        stream = WatchStream(self, caller, write)
        try:
            await stream.run(first, read)
        finally:
            stream.close()


class WatchStream:
    def __init__(
        self,
        servicer: ReplicationServicer,
        caller: Caller,
        write: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self._s = servicer
        self._caller = caller
        self._write = write
        self._events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._pending = 0
        self._overflow = False
        # Followed items and the change keys each depends on.
        self._items: dict[Item, tuple[str, ...]] = {}
        self._tokens: Tokens = {}
        self._by_key: dict[str, set[Item]] = {}
        self._caller_keys: frozenset[str] = frozenset()
        # What the caller's rights were read from: most changes that touch it (any change
        # to the organization, say) leave it as it was, and then nothing is re-authorized.
        self._caller_record: PrincipalPolicies | None = None
        self._session_policy_keys: frozenset[str] = frozenset()
        self._index = False
        self.revision = 0
        self._last_write = time.monotonic()
        self._reader: asyncio.Task[None] | None = None

    # -- change log subscriber -----------------------------------------------------------

    def notify(self, revision: int, keys: Sequence[str]) -> None:
        if self._overflow:
            return
        if self._pending >= MAX_PENDING:
            self._overflow = True
            self._events.put_nowait(("overflow", None))
            return
        self._pending += 1
        self._events.put_nowait(("change", (revision, keys)))

    def close(self) -> None:
        self._s.log.unsubscribe(self)
        if self._reader is not None:
            self._reader.cancel()

    # -- the stream --------------------------------------------------------------------

    async def run(
        self, first: pb.WatchRequest, read: Callable[[], Awaitable[pb.WatchRequest | None]]
    ) -> None:
        follow = items_of(first.follow, "follow", self._tokens)
        added = items_of(first.add, "add", self._tokens)
        if len(follow) + len(added) > MAX_ITEMS_PER_STREAM:
            raise LimitExceeded(f"a stream follows at most {MAX_ITEMS_PER_STREAM} items")
        since = first.since_revision
        feed = self._s.feed
        # Subscribe before any read: every change after `base` reaches this stream.
        self._s.log.subscribe(self)
        base = feed.applied_revision
        if since > base and not await feed.wait_for(since, RESUME_WAIT_SECONDS):
            # Another replica has seen more: answering from here could go back in time.
            raise Unavailable(f"revision {since} is not applied on this replica yet; retry")
        changed = self._s.log.keys_since(since) if since else None
        touched = set(expand(list(changed))) if changed is not None else None
        self._caller_keys = await self._caller_dependencies()
        batch = _Batch(self._write)
        batch.message.snapshot = touched is None
        fresh = set(added)
        await self._load_items(
            batch,
            [*follow, *added],
            send=lambda item, keys: (
                touched is None or item in fresh or not touched.isdisjoint(keys)
            ),
        )
        if touched is None or SERVICES_KEY in touched:
            await self._add_services(batch)
        if first.resource_index:
            if not await self._may_watch("*"):
                raise PermissionDenied(
                    f"{self._caller.arn} is not authorized to perform {WATCH_ACTION} on *"
                    " (needed for the resource index)"
                )
            self._index = True
            index = await self._s.records.resource_index(self._caller.account_id)
            batch.message.resource_index.complete = True
            batch.message.resource_index.arns.extend(sorted(index))
            await batch.add_size(sum(len(a) for a in index))
        self.revision = max(base, since)
        await self._close(batch, self.revision)
        self._reader = asyncio.get_running_loop().create_task(self._read_requests(read))
        await self._loop()

    async def _read_requests(self, read: Callable[[], Awaitable[pb.WatchRequest | None]]) -> None:
        try:
            while True:
                request = await read()
                if request is None:  # the caller sends nothing more; keep streaming
                    return
                self._events.put_nowait(("request", request))
        except Exception as exc:  # a malformed request ends the stream with its status
            self._events.put_nowait(("error", exc))

    async def _loop(self) -> None:
        midnight = time.time() + scoped.seconds_to_midnight(time.time()) + 1
        expires = self._caller.session.expires_at if self._caller.session else None
        while True:
            now = time.time()
            if expires is not None and now >= expires:
                raise Unavailable("the credentials of this stream expired; re-open it")
            if now >= midnight:
                await self._resend_keys()
                midnight = now + scoped.seconds_to_midnight(now) + 1
            wait = min(
                self._s.heartbeat - (time.monotonic() - self._last_write),
                midnight - now,
                (expires - now) if expires is not None else self._s.heartbeat,
            )
            try:
                event = await asyncio.wait_for(self._events.get(), max(0.0, wait))
            except TimeoutError:
                if time.monotonic() - self._last_write >= self._s.heartbeat:
                    await self._close(_Batch(self._write), self.revision)
                continue
            events = [event]
            while not self._events.empty():
                events.append(self._events.get_nowait())
            await self._handle(events)

    async def _handle(self, events: list[tuple[str, Any]]) -> None:
        """Processes a batch of events: requests first, then the changes."""
        keys: set[str] = set()
        revision = 0
        batch = _Batch(self._write)
        for kind, value in events:
            if kind == "change":
                self._pending -= 1
                change_revision, change_keys = value
                revision = max(revision, change_revision)
                keys.update(change_keys)
            elif kind == "request":
                await self._apply_request(batch, value)
            elif kind == "overflow":
                raise Unavailable("this stream fell behind the changes; resume it")
            elif kind == "error":
                raise value
        if keys:
            await self._apply_changes(batch, keys)
        if revision:
            self.revision = max(self.revision, revision)
            await self._close(batch, self.revision)
        else:
            await batch.close(0)
            self._last_write = time.monotonic()

    async def _close(self, batch: _Batch, revision: int) -> None:
        await batch.close(revision)
        self._last_write = time.monotonic()

    # -- requests and changes ----------------------------------------------------------

    async def _apply_request(self, batch: _Batch, request: pb.WatchRequest) -> None:
        for item in items_of(request.remove, "remove"):
            self._untrack(item)
        added = items_of(request.add, "add", self._tokens)
        if len(self._items) + len(added) > MAX_ITEMS_PER_STREAM:
            raise LimitExceeded(f"a stream follows at most {MAX_ITEMS_PER_STREAM} items")
        await self._load_items(batch, added, send=lambda _item, _keys: True)

    async def _apply_changes(self, batch: _Batch, keys: set[str]) -> None:
        if ALL in keys:
            # "Everything changed" (the feed lost track, e.g. after a reconnect) may hide a
            # deactivated key or a revoked session of this stream's own caller: the follower
            # re-opens the stream, which authenticates it again and resumes from its revision.
            raise Unavailable("this replica lost track of changes; re-open the stream")
        touched = set(expand(list(keys))) | revocation_keys(keys)
        if not touched.isdisjoint(self._caller_keys):
            # The caller's own rights (or credentials) may have changed.
            mine = touched & self._caller_keys
            if any(k.startswith(("key:", "sessions:")) for k in mine):
                raise Unavailable("the credentials of this stream changed; re-open it")
            before = self._caller_record
            self._caller_keys = await self._caller_dependencies()
            session_policies = any(k in self._session_policy_keys for k in mine)
            if session_policies or not _same_rights(before, self._caller_record):
                for item in list(self._items):
                    if not await self._may_follow(item):
                        self._untrack(item)
                        await self._add_state(batch, item, None, denied=True)
        affected: set[Item] = set()
        for key in touched:
            affected.update(self._by_key.get(key, ()))
        await self._load_items(batch, sorted(affected), send=lambda _i, _k: True, check=False)
        if SERVICES_KEY in touched:
            await self._add_services(batch)
        if self._index and INDEX_KEY in touched:
            account = self._caller.account_id
            for key in sorted(keys):
                if key.startswith("resource:"):
                    arn = key[len("resource:") :]
                    record = await self._s.records.resource(arn)
                    if record is not None and record.account_id == account:
                        batch.message.resource_index.arns.append(arn)

    async def _resend_keys(self) -> None:
        """A new UTC day: every followed key's signing keys move on by one day."""
        batch = _Batch(self._write)
        keys = [item for item in self._items if item[0] in (AccessKey, Session)]
        await self._load_items(batch, keys, send=lambda _i, _k: True, check=False)
        await self._close(batch, self.revision)

    # -- items -------------------------------------------------------------------------

    async def _load_items(
        self,
        batch: _Batch,
        items: Iterable[Item],
        *,
        send: Callable[[Item, tuple[str, ...]], bool],
        check: bool = True,
    ) -> None:
        """Loads items (several at a time), tracks their keys and adds the states ``send``
        selects; with ``check``, items the caller may not follow are answered `denied`."""
        pending = list(dict.fromkeys(items))
        for start in range(0, len(pending), LOAD_CONCURRENCY):
            chunk = pending[start : start + LOAD_CONCURRENCY]
            loaded = await asyncio.gather(*(self._load(item, check) for item in chunk))
            for item, (record, keys, denied) in zip(chunk, loaded, strict=True):
                if denied:
                    self._untrack(item)
                    await self._add_state(batch, item, None, denied=True)
                    continue
                self._track(item, keys)
                if send(item, keys):
                    await self._add_state(batch, item, record)

    async def _load(self, item: Item, check: bool) -> tuple[object, tuple[str, ...], bool]:
        kind, name = item
        records = self._s.records
        if kind == AccessKey:
            key = await records.access_key(name)
            # A key that does not exist is said so only to a caller that may watch every
            # principal of its account: to others, an unknown id and a foreign key look alike.
            owner = key.owner_arn if key is not None else "*"
            if check and not await self._may_watch(owner):
                return None, (), True
            return key, key_dependencies(name, key), False
        if kind == Session:
            return await self._load_session(name, check)
        if check and not await self._may_watch(name):
            return None, (), True
        if kind == Principal:
            principal = await records.principal(name)
            return principal, principal_dependencies(name, principal), False
        return await records.resource(name), resource_dependencies(name), False

    async def _load_session(self, name: str, check: bool) -> tuple[object, tuple[str, ...], bool]:
        authority = self._s.sessions
        key_id, token = self._tokens.get(name, ("", ""))
        if authority is None or not token:
            state = pb.SessionState(
                token_sha256=name, valid=False, reason="temporary credentials are not accepted"
            )
            return state, (), False
        state, claims = await session_state(
            authority, self._s.records, name, key_id, token, self._s.audience
        )
        if claims is None:
            return state, (), False
        if check and not await self._may_watch(claims.arn):
            return None, (), True
        return state, session_dependencies(claims), False

    async def _may_follow(self, item: Item) -> bool:
        kind, name = item
        if kind == AccessKey:
            key = await self._s.records.access_key(name)
            return await self._may_watch(key.owner_arn if key is not None else "*")
        if kind == Session:
            _, _, denied = await self._load_session(name, True)
            return not denied
        return await self._may_watch(name)

    async def _may_watch(self, arn: str) -> bool:
        outcome = await self._s.authorizer.allows(self._caller, WATCH_ACTION, arn)
        return outcome.result.decision is Decision.ALLOWED

    async def _add_state(
        self, batch: _Batch, item: Item, record: object, *, denied: bool = False
    ) -> None:
        kind, name = item
        message = batch.message
        if kind == Principal:
            state = message.principals.add(arn=name, exists=record is not None, denied=denied)
            if record is not None:
                state.record.CopyFrom(messages.principal_record(record))  # type: ignore[arg-type]
            size = state.ByteSize()
        elif kind == AccessKey:
            key = (
                pb.AccessKeyState(access_key_id=name, denied=True)
                if denied
                else scoped.key_state(name, record, self._s.master_key, self._s.audience)  # type: ignore[arg-type]
            )
            message.access_keys.append(key)
            size = 256
        elif kind == Session:
            session = (
                record
                if isinstance(record, pb.SessionState)
                else pb.SessionState(token_sha256=name, denied=True)
            )
            message.sessions.append(session)
            size = session.ByteSize()
            if not session.valid:
                # Never valid again (expired, revoked, not ours): no longer followed here.
                self._untrack(item)
                self._tokens.pop(name, None)
        else:
            resource = messages.resource_state(name, record)  # type: ignore[arg-type]
            resource.denied = denied
            message.resources.append(resource)
            size = resource.ByteSize()
        await batch.add_size(size)

    async def _add_services(self, batch: _Batch) -> None:
        definitions = messages.service_definitions(await self._s.records.services())
        batch.message.services.CopyFrom(definitions)
        await batch.add_size(definitions.ByteSize())

    def _track(self, item: Item, keys: tuple[str, ...]) -> None:
        old = self._items.get(item)
        if old == keys:
            return
        if old is not None:
            self._forget_keys(item, old)
        self._items[item] = keys
        for key in keys:
            self._by_key.setdefault(key, set()).add(item)

    def _untrack(self, item: Item) -> None:
        old = self._items.pop(item, None)
        if old is not None:
            self._forget_keys(item, old)
        if item[0] == Session and old is not None:
            self._tokens.pop(item[1], None)

    def _forget_keys(self, item: Item, keys: tuple[str, ...]) -> None:
        for key in keys:
            holders = self._by_key.get(key)
            if holders is not None:
                holders.discard(item)
                if not holders:
                    del self._by_key[key]

    async def _caller_dependencies(self) -> frozenset[str]:
        """Keys whose change may change what the caller may follow, or its credentials."""
        caller = self._caller
        base = caller.session.base_arn if caller.session is not None else caller.arn
        record = self._caller_record = await self._s.records.principal(base)
        keys = set(principal_dependencies(base, record))
        if caller.session is not None:
            keys.add(f"sessions:{caller.principal_id}")
            self._session_policy_keys = frozenset(
                f"policy:{arn}" for arn in caller.session.policy_arns
            )
            keys.update(self._session_policy_keys)
        else:
            keys.add(f"key:{caller.access_key_id}")
        return frozenset(keys)


def _same_rights(before: PrincipalPolicies | None, after: PrincipalPolicies | None) -> bool:
    """Whether two reads of a principal hold the same policies, tags and chain (the
    revision they were read at aside)."""
    if before is None or after is None:
        return before is after
    return dataclasses.replace(before, revision=0) == dataclasses.replace(after, revision=0)


def revocation_keys(keys: Iterable[str]) -> set[str]:
    """ "sessions:<id>:<ms>" -> "sessions:<id>" (how a stream tracks its own session)."""
    return {key.rpartition(":")[0] for key in keys if key.startswith("sessions:")}
