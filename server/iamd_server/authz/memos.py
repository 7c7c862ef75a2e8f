"""The Decider's bounded memos besides its caches: grants to ask Authorize about a principal
(`GrantMemo`, keyed by `grant_key`) and Authorize's whole replies (`ReplyMemo`). Both are
dicts, so a hit is a plain dict read, and both drop everything when full."""

from __future__ import annotations

from dataclasses import dataclass

from iamd_policy import EvaluationResult
from iamd_policy.entries import PrincipalEntry, ResourceEntry

from iamd_server.authn.authenticator import Caller
from iamd_server.authz.cache import CacheStats

# Remembered "may this caller ask about that principal" answers: bytes of one besides its
# strings, and at most this many (any change clears them all).
GRANT_BYTES = 250
GRANTS_LIMIT = 100_000


def grant_key(caller: Caller, principal_arn: str) -> tuple[str, str, str]:
    """The key of a caller's grant to ask about a principal in a GrantMemo."""
    # A session's rights are narrowed by its own session policies: key it by its key id.
    # The unique id: a grant of whoever holds a name now is not one of its former holder.
    who = caller.access_key_id if caller.session is not None else caller.arn
    return who, caller.principal_id, principal_arn


class GrantMemo(dict[tuple[str, ...], bool]):
    """(caller ARN or session key id, principal ARN) -> allowed; sized like the caches, for
    the metrics. Reads are plain dict reads (the hot path)."""

    def __init__(self, max_bytes: int, limit: int = GRANTS_LIMIT) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.limit = limit
        self.bytes = 0
        self.stats = CacheStats()

    def put(self, key: tuple[str, ...], allowed: bool) -> None:
        if key in self:
            self[key] = allowed
            return
        size = GRANT_BYTES + sum(len(part) for part in key)
        if len(self) >= self.limit or self.bytes + size > self.max_bytes:
            self.stats.evictions += len(self)
            super().clear()
            self.bytes = 0
        self.bytes += size
        self[key] = allowed

    def clear(self) -> None:
        self.stats.invalidations += len(self)
        super().clear()
        self.bytes = 0


@dataclass(slots=True)
class RememberedReply:
    """Authorize's reply to a request and what it rests on (see AuthorizeEntry.replied)."""

    caller: Caller
    generation: int
    revision: int
    principal_arn: str
    entry: PrincipalEntry | None
    code: int
    reply: bytes
    action: str
    resource: str
    owner: str | None
    resource_entry: ResourceEntry | None
    result: EvaluationResult


# Bytes a remembered reply costs besides its request and reply (dict slot, record,
# bytes headers), and the longest request remembered.
REPLY_BYTES = 360
MAX_REPLY_REQUEST = 1024


class ReplyMemo(dict[bytes, RememberedReply]):
    """Serialized request -> the reply Authorize gave it with what that reply rests on
    (see AuthorizeEntry.replied); only replies of the current generation are kept. Bounded
    by bytes like the caches (all dropped when full); reads are dict reads."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.bytes = 0
        self.generation = -1
        self.stats = CacheStats()

    def put(self, request: bytes, record: RememberedReply, generation: int) -> None:
        if generation != self.generation:
            self.clear()
            self.generation = generation
        if len(request) > MAX_REPLY_REQUEST:
            return
        if request in self:  # same request, newer record (another caller, a later revision)
            self[request] = record
            return
        size = REPLY_BYTES + len(request) + len(record.reply)
        if self.bytes + size > self.max_bytes:
            self.stats.evictions += len(self)
            super().clear()
            self.bytes = 0
        self.bytes += size
        self[request] = record
        self.stats.builds += 1

    def clear(self) -> None:
        self.stats.invalidations += len(self)
        super().clear()
        self.bytes = 0
