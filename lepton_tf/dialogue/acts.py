"""System dialogue acts, SGD's names: what the manager decided to say, before words.

    >>> Act("CONFIRM", "time", ("19:00",)).to_json()
    {'act': 'CONFIRM', 'slot': 'time', 'values': ['19:00']}
"""

from __future__ import annotations

import dataclasses

# SGD's system acts, plus what the assistant needs beyond SGD's simulated services: a
# backend it could not reach, an intent nothing serves, a cancelled task, a search with
# nothing found, a value it could not read.
INFORM, REQUEST, CONFIRM, OFFER, NOTIFY_SUCCESS, NOTIFY_FAILURE = (
    "INFORM", "REQUEST", "CONFIRM", "OFFER", "NOTIFY_SUCCESS", "NOTIFY_FAILURE")
INFORM_COUNT, OFFER_INTENT, REQ_MORE, GOODBYE = "INFORM_COUNT", "OFFER_INTENT", "REQ_MORE", "GOODBYE"
BACKEND_ERROR, UNSUPPORTED, CANCELLED, NO_RESULTS = (
    "BACKEND_ERROR", "UNSUPPORTED", "CANCELLED", "NO_RESULTS")
NOT_UNDERSTOOD = "NOT_UNDERSTOOD"  # a value said that is no date (time) we can read
SGD_ACTS = (INFORM, REQUEST, CONFIRM, OFFER, NOTIFY_SUCCESS, NOTIFY_FAILURE, INFORM_COUNT,
            OFFER_INTENT, REQ_MORE, GOODBYE)
ACTS = SGD_ACTS + (BACKEND_ERROR, UNSUPPORTED, CANCELLED, NO_RESULTS, NOT_UNDERSTOOD)


@dataclasses.dataclass(frozen=True)
class Act:
    """One system act.

    Attributes:
        act: one of ``ACTS``.
        slot: the slot it is about ("" for none; ``intent`` for OFFER_INTENT).
        values: the values it states (resolved: ISO dates, 24 h times).
    """

    act: str
    slot: str = ""
    values: tuple[str, ...] = ()

    def __post_init__(self):
        if self.act not in ACTS:
            raise ValueError(f"unknown system act {self.act!r}")

    def to_json(self) -> dict:
        return {"act": self.act, "slot": self.slot, "values": list(self.values)}
