"""A user's conversation with the served assistant, every turn checked: no value in
the reply's acts that is not in the user's words (or their resolved date, time or
count, spelled out by the test), a backend's rows, or a schema default; the reply
states exactly the acts' values; no slot the user already gave is asked for again; the
reservations table grows only on a "yes" to a confirmation whose values are exactly
what was booked."""

import datetime
import json
import sqlite3
import zoneinfo

from stored_conversation import post

from lepton_tf.client.assistant import AssistantClient
from lepton_tf.dialogue.acts import Act
from lepton_tf.dialogue.example_services import example_schemas
from lepton_tf.dialogue.replies import value_errors
from lepton_tf.dialogue.user_acts import AFFIRM, reply_kind

ZONE = "America/Los_Angeles"


def local_day(offset: int = 0) -> str:
    return (datetime.datetime.now(zoneinfo.ZoneInfo(ZONE)).date()
            + datetime.timedelta(days=offset)).isoformat()


def reservations(db_path: str) -> list[dict]:
    with sqlite3.connect(db_path) as db:
        return [json.loads(a) for (a,) in db.execute(
            "SELECT arguments FROM reservations ORDER BY id")]


class Talk:
    """One user's conversation with the served assistant; checks every turn (see the
    module docstring). `said` maps the user's phrases to the values they resolve to."""

    def __init__(self, server, db_path: str, session: str, said: dict | None = None,
                 transport: str = "grpc"):
        self.server, self.db_path, self.session = server, db_path, session
        self.transport, self.said = transport, {k.lower(): v for k, v in (said or {}).items()}
        self.user_text, self.rows, self.slots = "", [], {}
        self.pending, self.confirmed = "", {}
        self.defaults = {v for s in example_schemas().values() for i in s.intents
                         for v in i.optional_slots.values()} | {local_day()}

    def restart(self, server) -> None:
        self.server = server

    def _final(self, message: str) -> dict:
        if self.transport == "rest":
            status, events = post(self.server.rest_port, "/v1/assistant:stream", {
                "session_id": self.session, "message": message, "time_zone": ZONE})
            assert status == 200, events
        else:
            client = AssistantClient(f"127.0.0.1:{self.server.grpc_port}",
                                     session_id=self.session, timeout_s=20, time_zone=ZONE)
            events = list(client.stream(message))
        final = events[-1]
        assert final["type"] == "final", final
        return final

    def traceable(self, value: str) -> bool:
        if value.lower() in self.user_text.lower() or value in self.defaults:
            return True
        if any(value in row.values() for row in self.rows):
            return True
        return any(v == value and p in self.user_text.lower() for p, v in self.said.items())

    def __call__(self, message: str) -> dict:
        booked_before = len(reservations(self.db_path))
        self.user_text += " " + message
        final = self._final(message)
        task = final.get("task") or {}
        acts = [Act(a["act"], a["slot"], tuple(a["values"])) for a in task.get("acts", [])]
        self.rows += [dict(r) for r in task.get("results", [])]
        for act in acts:
            if act.act == "REQUEST" and not act.values:
                assert act.slot not in self.slots, f"re-asked {act.slot} after {message!r}"
            if act.act in ("OFFER_INTENT", "INFORM_COUNT"):
                continue
            for value in act.values:
                assert self.traceable(value), f"{act.act} {act.slot}={value!r} is invented"
        if acts:
            assert value_errors(final["reply"], acts) == ([], []), final["reply"]
        booked = reservations(self.db_path)[booked_before:]
        if booked:  # an action: only on a yes to a confirmation of exactly these values
            assert reply_kind(message) == AFFIRM and self.pending == "confirm", message
            assert booked == [self.confirmed], (booked, self.confirmed)
        if task:
            self.slots = {k: v for k, v in task["state"].get("slot_values", {}).items()}
            self.pending = task["pending"]
            confirms = {a.slot: a.values[0] for a in acts if a.act == "CONFIRM"}
            self.confirmed = confirms or self.confirmed
        return final


def acts_of(final: dict, kind: str) -> dict:
    return {a["slot"]: a["values"][0] for a in final["task"].get("acts", [])
            if a["act"] == kind and a["values"]}
