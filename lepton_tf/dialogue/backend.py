"""What the dialogue manager asks of the business's systems, and what it gets back.

A :class:`BackendCall` names the service, the intent and the slot values (dates and
times already resolved); a transactional call carries an idempotency key made of
the session and the turn, so the same confirmation sent twice books once. A
backend returns the result rows, SGD's ``service_results``: for a search, the
matching entities; for a transaction, the booked record, or no row when the
business declined it. A backend that cannot answer raises :class:`BackendError`,
and the manager says so rather than invent a result.

    >>> call = BackendCall("Restaurants_1", "ReserveRestaurant", {"city": "San Jose"},
    ...                    transactional=True, idempotency_key=idempotency_key("s1", 3))
    >>> call.to_json()["idempotency_key"]
    's1:3'
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

# What went wrong, for the reply and the final event.
TIMEOUT, UNREACHABLE, BAD_RESPONSE, FAILED, UNSUPPORTED = (
    "timeout", "unreachable", "bad_response", "failed", "unsupported")
ERROR_KINDS = (TIMEOUT, UNREACHABLE, BAD_RESPONSE, FAILED, UNSUPPORTED)
MAX_SESSION_KEY_CHARS = 100


def idempotency_key(session_id: str, turn: int) -> str:
    """The key of the transaction asked for in ``turn`` of ``session_id``.

    A long session id is hashed, so the key stays short enough for an index.
    """
    session = session_id if len(session_id) <= MAX_SESSION_KEY_CHARS else \
        hashlib.sha256(session_id.encode("utf-8")).hexdigest()
    return f"{session}:{int(turn)}"


@dataclasses.dataclass(frozen=True)
class BackendCall:
    """One request to a backend.

    Attributes:
        service, intent: what is asked (an intent of the service's schema).
        arguments: slot -> value, as the backend should see them (resolved dates).
        transactional: the intent changes the world (books, buys, pays).
        idempotency_key: session and turn of a transaction ("" for a search).
        selected: the result row the user chose from an earlier search ({} for
            none): it names the entity a transaction is about beyond its slots
            (the 5:25 flight at $129, not any American Airlines flight that day).
    """

    service: str
    intent: str
    arguments: Mapping[str, str]
    transactional: bool = False
    idempotency_key: str = ""
    selected: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return {"service": self.service, "intent": self.intent,
                "arguments": dict(self.arguments), "transactional": self.transactional,
                "idempotency_key": self.idempotency_key, "selected": dict(self.selected)}


class BackendError(Exception):
    """A backend that could not answer.

    Attributes:
        kind: one of ``ERROR_KINDS``.
        detail: what happened, for logs and the final event (never for the reply:
            the user gets an honest, fixed sentence).
    """

    def __init__(self, kind: str, detail: str):
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown backend error kind {kind!r}")
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class Declined(Exception):
    """A transaction the business refused, for a reason it states (insufficient
    funds): an answer, not a failure to answer, so the user is told the reason and
    nothing is retried.

    Attributes:
        reason: the business's words, said to the user as they are.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class BackendResult:
    """What came back from one call.

    Attributes:
        call: the request.
        backend: the configured backend's name ("" when none is bound).
        rows: the result rows (slot -> value); empty on error.
        error: "" on success, else a ``BackendError`` kind.
        detail: the error's detail.
        elapsed_ms: the call's wall time.
        declined: a transaction's refusal, in the business's words ("" for none).
    """

    call: BackendCall
    backend: str
    rows: tuple[Mapping[str, str], ...] = ()
    error: str = ""
    detail: str = ""
    elapsed_ms: float = 0.0
    declined: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_json(self) -> dict:
        return {"call": self.call.to_json(), "backend": self.backend,
                "results": [dict(r) for r in self.rows], "error": self.error,
                "detail": self.detail, "elapsed_ms": round(self.elapsed_ms, 2),
                "declined": self.declined}


@runtime_checkable
class Backend(Protocol):
    """A business system the dialogue manager calls (SQL, HTTP webhook, Python)."""

    def call(self, request: BackendCall) -> list[dict[str, str]]:
        """The result rows of ``request``.

        Raises:
            BackendError: it could not answer (timeout, unreachable, a bad
                response, a failure on its side, an intent it does not serve).
        """
        ...


def string_rows(rows, where: str) -> list[dict[str, str]]:
    """``rows`` checked to be a list of flat objects, scalar values as strings.

    Raises:
        BackendError: ``bad_response``, naming ``where`` and what is wrong.
    """
    if not isinstance(rows, list):
        raise BackendError(BAD_RESPONSE, f"{where}: results must be a list, got "
                                         f"{type(rows).__name__}")
    clean = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise BackendError(BAD_RESPONSE, f"{where}: results[{i}] must be an object")
        out = {}
        for key, value in row.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = str(value)
            if not isinstance(key, str) or not isinstance(value, (str, int, float)):
                raise BackendError(BAD_RESPONSE, f"{where}: results[{i}].{key} must be a "
                                                 "string or a number")
            out[key] = str(value)
        clean.append(out)
    return clean
