"""Per-session dialogue state with a memory bound (LRU) and an expiry (TTL).

A session holds the last turns (user and assistant), the last intent and
the last search results, so a follow-up ("and on mobile?") is searched with
the previous question and the chat model sees the dialogue so far. The
store never holds more than `max_sessions` sessions (the least recently
used is dropped) nor a session idle for more than `ttl_s` seconds (dropped
on the next access of the store), so memory stays bounded whatever clients
do. Thread-safe: the server runs requests in parallel.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Callable

from lepton_tf.assistant.grounding import RetrievedPassage
from lepton_tf.assistant.routing import TASK
from lepton_tf.dialogue.task_memory import TaskMemory
from lepton_tf.server import audit
from lepton_tf.store.records import TurnRecord

DEFAULT_MAX_SESSIONS = 10_000
DEFAULT_TTL_S = 30 * 60.0
DEFAULT_MAX_TURNS = 8  # user + assistant turns kept per session


@dataclasses.dataclass
class Session:
    """The state of one conversation.

    Attributes:
        session_id: the client's id.
        turns: `(speaker, text)` pairs, speaker `USER` or `SYSTEM`, oldest first.
        last_intent: the intent of the last user turn (`""` before the first).
        last_route: `search`, `chat` or `out_of_scope`.
        last_results: the passages retrieved for the last turn (may be empty).
        dialogue: the `chat` route's turns alone (what the chat model reads: never
            a search answer, its passages or `[n]`, nor small talk).
        last_query: what the last search turn searched (a follow-up: rewritten).
        last_used: monotonic time of the last access.
        task_memory: the task dialogue's state, tracked values and pending
            confirmation (None before the first task turn).
    """

    session_id: str
    turns: list = dataclasses.field(default_factory=list)
    last_intent: str = ""
    last_route: str = ""
    last_results: list = dataclasses.field(default_factory=list)
    dialogue: list = dataclasses.field(default_factory=list)
    last_query: str = ""
    last_reply: str = ""
    last_used: float = 0.0
    task_memory: TaskMemory | None = None  # the dialogue manager's
    turn_count: int = 0  # answered turns (a stored state never goes back past a newer one)
    # `(turns, updated_at)` of the stored state this object last wrote or read: while
    # the store still holds it, a turn's read moves no state (see `StoredSessions`).
    stored_mark: tuple | None = None
    store_read_s: float = 0.0  # this turn's read of the store (the turn's metric adds it)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def add_turn(self, speaker: str, text: str, max_turns: int) -> None:
        self.turns.append((speaker, text))
        del self.turns[:-max_turns]

    def add_dialogue_turn(self, speaker: str, text: str, max_turns: int) -> None:
        self.dialogue.append((speaker, text))
        del self.dialogue[:-max_turns]

    def last_user_turn(self) -> str:
        return next((t for s, t in reversed(self.turns) if s == "USER"), "")

    def tracked_state(self) -> dict:
        """What the turn log records as the dialogue state after a turn."""
        state = {"route": self.last_route, "intent": self.last_intent,
                 "query": self.last_query}
        if self.task_memory is not None and self.last_route == TASK:
            state["task"] = {"service": self.task_memory.service,
                             "pending": self.task_memory.pending,
                             "state": self.task_memory.state.to_json()}
        return state

    def to_state(self) -> dict:
        """The conversation as JSON-ready values (what the store keeps)."""
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in _NOT_STATE}
        state["turns"] = [list(t) for t in self.turns]
        state["dialogue"] = [list(t) for t in self.dialogue]
        state["last_results"] = [dataclasses.asdict(p) for p in self.last_results]
        state["task_memory"] = self.task_memory.to_json() if self.task_memory else None
        return state

    def restore(self, state: dict) -> None:
        """Takes over a stored `to_state` (keys this code does not know are ignored,
        keys it lacks keep their defaults, so a state stored without a field loads)."""
        defaults = Session(self.session_id)
        for f in dataclasses.fields(self):
            if f.name in _NOT_STATE:
                continue
            value = state.get(f.name, getattr(defaults, f.name))
            decode = _DECODERS.get(f.name)
            setattr(self, f.name, decode(value) if decode else value)


_NOT_STATE = ("session_id", "lock", "last_used", "stored_mark", "store_read_s")
_DECODERS = {"turns": lambda v: [tuple(t) for t in v],
             "dialogue": lambda v: [tuple(t) for t in v],
             "last_results": lambda v: [RetrievedPassage(**p) for p in v],
             "task_memory": lambda v: TaskMemory.from_json(v) if v else None}


class SessionStore:
    """Sessions by id, at most `max_sessions`, each expiring after `ttl_s` idle.

    Args:
        max_sessions: the memory bound; the least recently used session goes first.
        ttl_s: idle seconds after which a session is forgotten.
        max_turns: turns kept per session.
        clock: monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, ttl_s: float = DEFAULT_TTL_S,
                 max_turns: int = DEFAULT_MAX_TURNS, clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1 or ttl_s <= 0 or max_turns < 2:
            raise ValueError("max_sessions >= 1, ttl_s > 0 and max_turns >= 2 are required")
        self.max_sessions, self.ttl_s, self.max_turns = max_sessions, ttl_s, max_turns
        self.clock = clock
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0  # sessions dropped by the LRU bound
        self.expired = 0  # sessions dropped by the TTL

    def _expire(self, now: float) -> None:
        # Oldest first: stop at the first session still alive.
        while self._sessions:
            session = next(iter(self._sessions.values()))
            if now - session.last_used <= self.ttl_s:
                break
            self._sessions.popitem(last=False)
            self.expired += 1

    def get(self, session_id: str) -> Session:
        """The session (a new one if unknown or expired), marked as just used."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            session = self._sessions.get(session_id)
            if session is None:
                session = Session(session_id)
                self._sessions[session_id] = session
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
                    self.evicted += 1
            else:
                self._sessions.move_to_end(session_id)
            session.last_used = now
            return session

    def peek(self, session_id: str) -> Session | None:
        """The session if alive, without touching it (tests, debugging)."""
        with self._lock:
            self._expire(self.clock())
            return self._sessions.get(session_id)

    def refresh(self, session: Session) -> None:
        """Brings `session` up to date before a turn (held under its lock). In memory
        there is nothing newer; a stored store reads what another process wrote."""

    def log_turn(self, session: Session, record: TurnRecord,
                 audited: dict | None = None) -> None:
        """Called once per answered turn, under the session's lock, before its final
        event; in memory nothing is kept but the audit record (to the request's sinks).

        Args:
            session: the session after the turn.
            record: the turn.
            audited: its audit record (`server.audit.entry`; None: not audited).
        """
        audit.write(audited)

    def close(self) -> None:
        """Releases what the store holds (nothing in memory)."""

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._sessions)
