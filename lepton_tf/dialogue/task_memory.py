"""What the dialogue manager keeps between turns, and what one turn decides."""

from __future__ import annotations

import dataclasses
import uuid

from lepton_tf.dialogue.backend import BackendResult
from lepton_tf.dialogue.state import DialogueState


@dataclasses.dataclass
class TaskMemory:
    """What the manager remembers of one conversation between turns."""

    state: DialogueState = dataclasses.field(default_factory=DialogueState)
    # Part of every idempotency key: a session id used again after its memory expired
    # starts new keys rather than colliding with the old conversation's.
    conversation: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    service: str = ""
    intent: str = ""
    pending: str = ""            # "", "confirm", "offer" or "no_results"
    requested: str = ""          # the slot the last turn asked for
    confirm_key: str = ""        # idempotency key of the pending confirmation
    confirmed: dict = dataclasses.field(default_factory=dict)  # values it showed
    selected: dict = dataclasses.field(default_factory=dict)  # the offered row chosen
    offers: list = dataclasses.field(default_factory=list)
    offer_index: int = 0
    searched: dict = dataclasses.field(default_factory=dict)  # the offers' search arguments
    last_result: dict = dataclasses.field(default_factory=dict)
    last_system: str = ""
    turn: int = 0
    time_zone: str = ""          # the caller's IANA zone ("" : the server's)


@dataclasses.dataclass
class Decision:
    """One turn's outcome.

    Attributes:
        acts: the system acts, in order.
        service, intent: the task in play ("" when the turn is no task's).
        arguments: the resolved slot values of the task.
        call: the backend call made this turn, with its rows or error.
        offered: the result row on offer ({} for none).
    """

    acts: list
    service: str = ""
    intent: str = ""
    arguments: dict = dataclasses.field(default_factory=dict)
    call: BackendResult | None = None
    offered: dict = dataclasses.field(default_factory=dict)

    @property
    def is_task(self) -> bool:
        return bool(self.acts)
