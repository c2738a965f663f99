"""Task dialogues in the assistant: the dialogue manager per session, faithful replies.

`TaskSkill.turn(session, message)` runs the tracker and the dialogue manager
(`lepton_tf.dialogue.policy`) on the session's task memory. A turn that is about a
task (booking, searching, answering about an offered result) gets the manager's
acts, written as a reply whose every value is checked against the acts (a reply
that drops or adds one is replaced by the template); a turn that is not (a
greeting, a knowledge-base question, anything else) gets None and is routed as
before, the task waiting where it was.

The final event carries the task: the tracked state, the acts, the backend call
with its arguments, and the rows the reply was built from.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import zoneinfo

from lepton_tf.dialogue.policy import Policy, TaskMemory
from lepton_tf.dialogue.replies import template_reply

# The example's services: one per domain (SGD has several per domain; one each keeps
# "book a table" unambiguous).
DEFAULT_SERVICES = ("Restaurants_1", "Hotels_1", "Flights_1", "RentalCars_1", "Movies_1",
                    "Events_1", "Buses_1", "Travel_1")


@dataclasses.dataclass
class TaskTurn:
    """A task turn's reply and what it was built from."""

    reply: str
    service: str
    intent: str
    acts: list
    state: dict
    call: dict | None
    offered: dict
    pending: str
    replaced: bool = False  # a generated reply failed the value check

    def to_json(self) -> dict:
        return {"service": self.service, "intent": self.intent, "state": self.state,
                "acts": [a.to_json() for a in self.acts], "call": self.call,
                "results": (self.call or {}).get("results", []), "offered": self.offered,
                "pending": self.pending, "reply_replaced": self.replaced}


def hosted_tracker(manager, model: str = "dst", cache_schema: bool = True):
    """The learned tracker (`dialogue.model_tracker.ModelTracker`) over the `dst`
    servable hosted by the same server, called in process.

    With `cache_schema` (and a servable that has `encode_schema` and
    `track_turn_encoded`) each schema text is encoded once per model version and a
    turn runs only the utterances through the encoder; without, every turn re-encodes
    the services' descriptions (`serving_default`)."""
    from lepton_tf.dialogue.model_tracker import OUTPUTS_READ, ModelTracker
    from lepton_tf.dialogue.schema_vectors import SchemaVectors
    from lepton_tf.server import inference

    vectors = SchemaVectors()

    def predict(inputs):
        with manager.servable(model) as servable:
            wanted = [k for k in OUTPUTS_READ if k in servable.signatures["serving_default"].outputs]
            if cache_schema and {"encode_schema", "track_turn_encoded"} <= set(servable.signatures):
                def encode(texts):
                    return inference.predict_arrays(servable, "encode_schema", {"texts": texts},
                                                    ["embeddings"])[1]["embeddings"]
                rows = vectors.add_to(dict(inputs), encode, version=servable.version)
                return inference.predict_arrays(servable, "track_turn_encoded", rows, wanted)[1]
            return inference.predict_arrays(servable, "serving_default", inputs, wanted)[1]
    return ModelTracker(predict, vectors=vectors)


def hosted_generator(manager, model: str):
    """The reply generator (`dialogue.generated_replies.GeneratedReplies`) over the
    `chat`-signature servable `model` hosted by the same server, called in process."""
    import numpy as np

    from lepton_tf.dialogue.generated_replies import GeneratedReplies
    from lepton_tf.server import inference

    def generate(contexts):
        with manager.servable(model) as servable:
            _, out = inference.predict_arrays(servable, "serving_default", {
                "context": np.array([c.encode("utf-8") for c in contexts], object)}, ["reply"])
        return [r.decode("utf-8") if isinstance(r, bytes) else str(r) for r in out["reply"]]
    return GeneratedReplies(generate)


class TaskSkill:
    """Args:
        policy: the dialogue manager (schemas, tracker, backends).
        generator: optional `dialogue.generated_replies.GeneratedReplies` (the trained
            reply generator); its replies pass the value check or are replaced by
            the template.
        clock: `() -> aware datetime` in the caller's zone (default: this machine's).
    """

    def __init__(self, policy: Policy, generator=None, clock=None):
        self.policy, self.generator = policy, generator
        self.clock = clock or (lambda: datetime.datetime.now().astimezone())

    def offers(self, task: str) -> bool:
        """Whether `Service.Intent` is one of these tasks'."""
        service, _, intent = task.partition(".")
        return service in self.policy.schemas and \
            intent in self.policy.schemas[service].intent_names

    @classmethod
    def example(cls, db_path: str, config_path: str | None = None,
                services=DEFAULT_SERVICES, environ=None, tracker=None,
                skill_only=None) -> "TaskSkill":
        """The shipped example: SGD's services, the lookup tracker (or `tracker`, any
        `Tracker`: the learned one), the backends of `configs/dialogue/backends.yaml`
        with the database at `db_path`. `skill_only`: service -> intents, for the
        services offered only for the intents skills are bound to (`Policy`).

        Raises:
            FileNotFoundError: no database at `db_path`.
            ConfigError: a malformed backends file.
            ValueError: a service SGD's schemas do not have.
        """
        from lepton_tf.dialogue.backends_config import load_backends
        from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, example_schemas
        from lepton_tf.dialogue.lookup_tracker import LookupTracker

        if not os.path.isfile(db_path):
            raise FileNotFoundError(f"no task database at {db_path} (lepton-tf main builds it)")
        every = example_schemas()
        unknown = [name for name in services if name not in every]
        if unknown:
            raise ValueError(f"no such SGD service: {', '.join(unknown)}")
        schemas = {name: every[name] for name in services}
        backends = load_backends(config_path or DEFAULT_BACKENDS_CONFIG, every, environ,
                                 overrides={"example_db": {"url": f"sqlite:///{db_path}"}})
        tracker = tracker or LookupTracker.from_sqlite(db_path, every, services)
        from lepton_tf.dialogue.dates import resolve_date

        # dateparser loads its language data on first use (0.3-0.7 s): here, not in a turn.
        resolve_date("next friday", datetime.datetime.now())
        return cls(Policy(schemas, tracker, backends, skill_only))

    def help_text(self) -> str:
        """What the assistant can do, from the services' own descriptions."""
        described = "; ".join(s.description.rstrip(".") for s in self.policy.schemas.values())
        return f"I can help with these: {described}. What would you like to do?"

    @staticmethod
    def check_time_zone(name: str) -> zoneinfo.ZoneInfo:
        """The zone called `name`.

        Raises:
            ValueError: not an IANA time zone name.
        """
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {name[:60]!r} is not an IANA time zone name "
                             "(e.g. Europe/Paris, America/Los_Angeles).") from None

    def turn(self, session, message: str, time_zone: str = "",
             task: str = "") -> TaskTurn | None:
        """The task's reply to `message`, or None when the turn is no task's.

        Args:
            session: the conversation (its `task_memory` is used and kept).
            message: the user's turn.
            time_zone: the caller's IANA zone ("": the one given before, else the
                server's clock): "tomorrow" and "7 pm" are resolved in it.
            task: `Service.Intent` to start with this turn (an intent skill bound to
                it), whatever the tracker made of it; "": the tracker decides.

        Raises:
            ValueError: a `task` these tasks do not offer.
        """
        if task and not self.offers(task):
            raise ValueError(f"task {task!r} is not an intent of the services offered")
        started = tuple(task.split(".", 1)) if task else None
        memory = session.task_memory
        if memory is None:
            memory = session.task_memory = TaskMemory()
        if time_zone:
            self.check_time_zone(time_zone)
            memory.time_zone = time_zone
        now = datetime.datetime.now(self.check_time_zone(memory.time_zone)) \
            if memory.time_zone else self.clock()
        decision = self.policy.turn(memory, session.session_id, message, now, started)
        if not decision.acts:
            return None
        service = self.policy.schemas.get(decision.service)
        if self.generator is not None:
            reply, replaced = self.generator.reply(decision.acts, service)
        else:
            reply, replaced = template_reply(decision.acts, service), False
        memory.last_system = reply
        state = memory.state.service(decision.service).to_json() if decision.service else {}
        return TaskTurn(reply, decision.service, decision.intent, decision.acts, state,
                        decision.call.to_json() if decision.call else None,
                        decision.offered, memory.pending, replaced)
