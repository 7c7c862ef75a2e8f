"""Automatic pagination of list commands, as the AWS CLI does it.

A list command fetches every page and prints the items together, without IsTruncated and
Marker. ``--max-items N`` stops after N items and prints a ``NextToken`` when more remain;
``--starting-token`` resumes from it; ``--page-size`` sets how many items each call asks
for. ``--no-paginate`` (global) makes one call and prints that page as the server sent it.

A NextToken is the page's marker plus how many items of that page were already printed,
so a listing can stop in the middle of a page and resume at the next item.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from iamd_client.cli.usage import UsageError

MAX_PAGE_SIZE = 1000
_MAX_TOKEN_LENGTH = 4096


def result_field(method: MethodDescriptor) -> FieldDescriptor | None:
    """The list a paginated RPC returns, or None when the RPC is not paginated."""
    request = method.input_type.fields_by_name
    response = method.output_type.fields_by_name
    if not {"marker", "max_items"} <= set(request) or not {"marker", "is_truncated"} <= set(
        response
    ):
        return None
    lists = [f for f in method.output_type.fields if f.is_repeated]
    return lists[0] if len(lists) == 1 else None


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pagination (every page is fetched unless limited)")
    group.add_argument(
        "--max-items",
        dest="paging_max_items",
        type=int,
        metavar="N",
        help="print at most N items in all, and a NextToken when more remain (default: all items)",
    )
    group.add_argument(
        "--starting-token",
        dest="paging_starting_token",
        metavar="TOKEN",
        help="resume after a previous listing, from the NextToken it printed",
    )
    group.add_argument(
        "--page-size",
        dest="paging_page_size",
        type=int,
        metavar="N",
        help=f"items asked for per call, 1-{MAX_PAGE_SIZE} (default: the server's, 100); "
        "changes the number of calls, not the output",
    )
    # The API's own marker (what --no-paginate prints): resumes one page, no pagination.
    group.add_argument("--marker", dest="marker", help=argparse.SUPPRESS)


@dataclass(frozen=True, slots=True)
class Position:
    marker: str
    skip: int  # items of the page at `marker` already printed


def encode_token(position: Position) -> str:
    raw = json.dumps({"Marker": position.marker, "Skip": position.skip}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str) -> Position:
    bad = UsageError(f"--starting-token {token[:40]!r}: not a NextToken printed by iamctl")
    if len(token) > _MAX_TOKEN_LENGTH:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise bad from None
    if not isinstance(data, dict):
        raise bad
    marker, skip = data.get("Marker"), data.get("Skip")
    if not isinstance(marker, str) or not isinstance(skip, int) or not 0 <= skip <= MAX_PAGE_SIZE:
        raise bad
    return Position(marker, skip)


@dataclass(frozen=True, slots=True)
class Limits:
    max_items: int | None = None
    page_size: int | None = None
    starting_token: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Limits:
        limits = cls(
            getattr(args, "paging_max_items", None),
            getattr(args, "paging_page_size", None),
            getattr(args, "paging_starting_token", None),
        )
        if limits.max_items is not None and limits.max_items < 1:
            raise UsageError(f"--max-items {limits.max_items}: expected at least 1")
        if limits.page_size is not None and not 1 <= limits.page_size <= MAX_PAGE_SIZE:
            raise UsageError(f"--page-size {limits.page_size}: expected 1-{MAX_PAGE_SIZE}")
        return limits


def fetch_all(
    invoke: Callable[[Message], Message],
    request: Message,
    items: FieldDescriptor,
    limits: Limits,
) -> tuple[Message, str | None]:
    """Every page (up to --max-items) merged into the first response, and the NextToken
    (None when nothing remains). `request` is changed (marker, max_items)."""
    position = decode_token(limits.starting_token) if limits.starting_token else Position("", 0)
    paged: Any = request
    paged.max_items = limits.page_size or 0
    remaining = limits.max_items
    collected: list[Message] = []
    seen: set[str] = set()
    first: Any = None
    next_token: str | None = None
    while True:
        paged.marker = position.marker
        page: Any = invoke(request)
        if first is None:
            first = page
        page_items = list(getattr(page, items.name))[position.skip :]
        if remaining is not None and len(page_items) > remaining:
            collected.extend(page_items[:remaining])
            next_token = encode_token(Position(position.marker, position.skip + remaining))
            break
        collected.extend(page_items)
        if remaining is not None:
            remaining -= len(page_items)
        marker: str = page.marker
        if not (page.is_truncated and marker) or marker in seen:
            break  # the last page (or a server repeating itself, which would never end)
        seen.add(marker)
        if remaining == 0:
            next_token = encode_token(Position(marker, 0))
            break
        position = Position(marker, 0)
    merged: Any = type(first)()
    merged.CopyFrom(first)
    container = getattr(merged, items.name)
    del container[:]
    container.extend(collected)
    merged.marker = ""
    merged.is_truncated = False
    return merged, next_token
