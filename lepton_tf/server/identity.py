"""Who is calling: principals, and the one the current request acts as.

Every gRPC call and REST request is authenticated (`authenticators`) to a
`Principal` before any model runs; the front sets it for the thread that runs
the request (`acting_as`), and servables read it with `current()` (the search
servable turns it into the readers an answer may come from, the assistant
keys its sessions by it). Nothing here logs a token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

EVERYONE = "*"          # the group every caller belongs to (an ACL's public documents)
USER_PREFIX = "user:"   # an ACL names a single principal as "user:NAME"
_local = threading.local()


@dataclasses.dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    Attributes:
        name: the principal's name (a tokens file key, a JWT's subject).
        groups: the groups it belongs to.
        admin_of: groups whose operator data (report, audit) it may read;
            `"*"` in it: every group's.
        unrestricted: reads every document whatever its ACL (the server's own
            calls, a single shared `--auth_token`, a server without auth).
    """

    name: str
    groups: frozenset = frozenset()
    admin_of: frozenset = frozenset()
    unrestricted: bool = False

    def readers(self) -> list[str] | None:
        """The ACL entries that let this principal read a document: its
        `user:NAME`, its groups and `"*"` (None: unrestricted)."""
        if self.unrestricted:
            return None
        return sorted({USER_PREFIX + self.name, EVERYONE, *self.groups})

    def administers(self, group: str) -> bool:
        """Whether this principal may read `group`'s operator data."""
        return self.unrestricted or EVERYONE in self.admin_of or group in self.admin_of


MAX_SESSION_KEY = 200  # the conversation store's session_id column


def owned_session(principal: Principal, session_id: str) -> str:
    """Where `principal`'s conversation `session_id` is kept: under its name for a
    restricted caller (another caller's same id is another session, which it can
    neither continue, rate nor forget); as it is for an unrestricted one. A key
    longer than the store's column is replaced by its SHA-256 (same input, same key)."""
    if principal.unrestricted:
        return session_id
    key = f"{principal.name}\x1f{session_id}"
    if len(key) <= MAX_SESSION_KEY:
        return key
    import hashlib

    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


# The server's own work (warmup, a shared token, no auth): no ACL applies.
SERVER = Principal("server", unrestricted=True)


@contextlib.contextmanager
def acting_as(principal: Principal | None):
    """Runs the block as `principal` (this thread), restoring the previous one."""
    previous = getattr(_local, "principal", None)
    _local.principal = principal
    try:
        yield principal
    finally:
        _local.principal = previous


def current() -> Principal:
    """The principal of this thread's request (`SERVER` outside one)."""
    principal = getattr(_local, "principal", None)
    return SERVER if principal is None else principal
