"""What the dialogue manager keeps between turns, and what one turn decides."""

from __future__ import annotations

import dataclasses
import uuid

from lepton_tf.dialogue.backend import BackendResult
from lepton_tf.dialogue.state import DialogueState, ServiceState


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

    def to_json(self) -> dict:
        """The memory as JSON-ready values (a conversation store keeps it, so a
        restarted server continues a booking where it was, with the same keys)."""
        memory = dataclasses.asdict(self)
        memory["state"] = self.state.to_json()
        return memory

    @classmethod
    def from_json(cls, raw: dict) -> "TaskMemory":
        """The memory `to_json` wrote (keys it lacks keep their defaults, keys this
        code does not know are ignored: memories of other versions load).

        Raises:
            ValueError: a dialogue state of the wrong shape.
        """
        known = {f.name for f in dataclasses.fields(cls)} - {"state"}
        memory = cls(**{k: v for k, v in raw.items() if k in known})
        memory.state = DialogueState({name: ServiceState.from_json(frame) for name, frame
                                      in (raw.get("state") or {}).items()})
        return memory


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
