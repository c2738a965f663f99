"""The assistant with task dialogues on: a booking from the real example database,
with a knowledge-base question, small talk and an out-of-scope question in the
middle, through gRPC Predict and the gRPC stream. The other models are the fakes
of `conversation_fakes`; the chat model must not be asked for any task reply."""

import sqlite3

import pytest
from conftest import free_port
from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG as DEFAULT_BACKENDS
from lepton_tf.server.app import ModelServer, ServerOptions

ROUTER = Router(search_threshold=0.3, dialogue_threshold=0.6)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "example.sqlite"
    example_db.build_example_db(db)
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables=conversation_models())
    mount_assistant(s, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, task_db=str(db))
    s.start()
    s.db = db
    yield s
    s.stop(0)


def _client(server, session):
    from lepton_tf.client.assistant import AssistantClient

    return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id=session, timeout_s=20)


def _stream(client, message):
    return next(e for e in client.stream(message) if e["type"] == "final")


def test_a_booking_with_other_questions_in_the_middle(server):
    client = _client(server, "booking")
    with server.manager.servable("chat") as chat:
        chat_calls = len(chat.seen)
    offer = client.ask("Book a table for two at an Italian place in San Jose tonight at 7")
    assert offer["route"] == "task"
    task = offer["task"]
    assert task["intent"] == "ReserveRestaurant" and task["pending"] == "offer"
    assert task["call"]["call"]["intent"] == "FindRestaurants"
    assert task["call"]["call"]["arguments"] == {"cuisine": "Italian", "city": "San Jose"}
    name = task["offered"]["restaurant_name"]
    assert name in offer["reply"] and name in [r["restaurant_name"] for r in task["results"]]
    assert task["state"]["slot_values"]["party_size"] == ["2"]

    faq = client.ask("How do I delete my Facebook account?")
    assert faq["route"] == "search" and faq["citations"]
    assert client.ask("What's my bank card's PIN?")["route"] == "out_of_scope"

    confirm = _stream(client, "Yes please")
    assert confirm["route"] == "task" and confirm["task"]["pending"] == "confirm"
    assert name in confirm["reply"] and "7 pm" in confirm["reply"]
    with sqlite3.connect(server.db) as db:
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0

    booked = client.ask("Yes")
    assert booked["route"] == "task" and booked["task"]["call"]["error"] == ""
    assert booked["task"]["call"]["call"]["transactional"] is True
    (row,) = booked["task"]["results"]
    assert row["restaurant_name"] == name and row["time"] == "19:00"
    assert row["phone_number"] in booked["reply"]
    with sqlite3.connect(server.db) as db:
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
    with server.manager.servable("chat") as chat:
        assert len(chat.seen) == chat_calls  # no reply of the chat model


class _NoSignals:
    """Backends with no scores at all: every turn not refused is routed to `chat`."""

    def intent(self, text):
        return None

    def search(self, query, k):
        return [], None

    def dialogue_score(self, text):
        return None

    def chat(self, context):
        raise AssertionError("the chat model was asked for a reply")


def test_chat_route_says_what_it_can_do_instead_of_the_chat_model(server):
    from lepton_tf.assistant.engine import Assistant
    from lepton_tf.assistant.tasks import TaskSkill

    assistant = Assistant(_NoSignals(), tasks=TaskSkill.example(str(server.db)))
    try:
        answer = assistant.answer("chatty", "I'd like to book a dentist appointment")
        assert answer.route == "chat" and answer.task == {}
        assert answer.reply.startswith("I can help with these:")
        assert "restaurant search and reservations" in answer.reply
        booking = assistant.answer("chatty", "I need a rental car in Fresno")
        assert booking.route == "task" and booking.task["intent"] == "GetCarsAvailable"
        assert booking.task["state"]["slot_values"]["pickup_city"] == ["Fresno"]
    finally:
        assistant.close()


def test_tomorrow_is_the_callers_tomorrow(server):
    import datetime
    import zoneinfo

    import grpc

    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14 and UTC-11
        client = _client(server, f"zone-{zone}")
        client.time_zone = zone
        final = _stream(client, "Book a table at Arcadia in San Jose tomorrow at 7 pm")
        tomorrow = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date() + \
            datetime.timedelta(days=1)
        confirmed = {a["slot"]: a["values"][0] for a in final["task"]["acts"]
                     if a["act"] == "CONFIRM"}
        assert confirmed["date"] == tomorrow.isoformat()
        assert f"{tomorrow:%B} {tomorrow.day}, {tomorrow.year}" in final["reply"]
    client.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(grpc.RpcError) as e:
        _stream(client, "yes")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "time_zone" in e.value.details()


def test_the_main_jobs_demo_conversation_books_a_table(server, capsys):
    from lepton_tf.assistant.demo import run_scripted_conversation

    with sqlite3.connect(server.db) as db:
        before = db.execute("SELECT count(*) FROM reservations").fetchone()[0]
    run_scripted_conversation(f"127.0.0.1:{server.grpc_port}", timeout_s=20)
    out = capsys.readouterr().out
    assert "Done: it is booked." in out and "[backend example_db: ReserveRestaurant(" in out
    assert "[route task" in out and "[route search" in out
    with sqlite3.connect(server.db) as db:
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == before + 1


def test_claimed_intents_are_handed_off_by_the_shipped_skills(tmp_path):
    """Banking77 intents: the shipped skills hand them to a person (the example has no
    bank's facts to state); an `answer:` skill says the business's own words."""
    from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

    from lepton_tf.commands.serve import DEFAULT_SKILLS

    skills = tmp_path / "skills.yaml"
    skills.write_text(open(DEFAULT_SKILLS).read().replace(
        "intents:\n", 'intents:\n  change_pin: {answer: "Change your PIN at any of our ATMs."}\n'))
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables=conversation_models())
    mount_assistant(s, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, skills=str(skills))
    s.start()
    try:
        client = _client(s, "skills")
        handed = client.ask("My card has not arrived yet.")
        assert handed["route"] == "skill" and handed["intent"] == "card_arrival"
        assert handed["handoff"] is True and "(card arrival)" in handed["reply"]
        answered = _stream(client, "How do I change my PIN?")
        assert answered["route"] == "skill" and answered["handoff"] is False
        assert answered["reply"] == "Change your PIN at any of our ATMs."
    finally:
        s.stop(0)
    from lepton_tf.assistant.skills import parse_skills

    with pytest.raises(ValueError, match="intents.x: needs exactly one of answer, handoff, task"):
        parse_skills({"version": 1, "intents": {"x": {"tasks": "Banks_1.TransferMoney"}}})
    with pytest.raises(ValueError, match="intents.x: task must read Service.Intent"):
        parse_skills({"version": 1, "intents": {"x": {"task": "transfer money"}}})


def test_a_banking_intent_bound_to_a_schema_task_starts_it(server, tmp_path):
    """The shipped skills bind Banking77's `transfer_into_account` to SGD's
    Banks_1.TransferMoney: the intent model's decision starts the task (not a
    hand-off), the tracker's values fill it, and after a yes the bank's system (an
    HTTP action server here, bound in place of the example database) gets the
    transfer once."""
    from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models
    from webhook_server import ActionServer

    from lepton_tf.commands.serve import DEFAULT_SKILLS

    def bank(payload, headers):
        return 200, {"version": "1", "results": [payload["arguments"]]}, 0.0
    with ActionServer(bank) as bank_server:
        config = tmp_path / "backends.yaml"
        config.write_text(open(DEFAULT_BACKENDS).read().replace(
            "bind:\n", f"  bank: {{type: http, url: '{bank_server.url}'}}\nbind:\n").replace(
            '"Banks_1.*": example_db', '"Banks_1.*": bank'))
        s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                        python_servables=conversation_models())
        mount_assistant(s, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                        domain_turns=DOMAIN_TURNS, skills=DEFAULT_SKILLS,
                        task_db=str(server.db), task_config=str(config))
        s.start()
        try:
            client = _client(s, "transfer")
            start = _stream(client, "I want to transfer $200 from checking to savings")
            assert start["route"] == "task" and start["handoff"] is False, start
            task = start["task"]
            assert (task["service"], task["intent"]) == ("Banks_1", "TransferMoney")
            assert task["state"]["slot_values"] == {"amount": ["$200"],
                                                    "account_type": ["checking"],
                                                    "recipient_account_type": ["savings"]}
            assert [a["slot"] for a in task["acts"]] == ["recipient_account_name"]
            confirm = client.ask("Pranav")
            assert confirm["task"]["pending"] == "confirm" and "$200" in confirm["reply"]
            assert bank_server.requests == []  # nothing moves before the yes
            done = client.ask("yes")
            assert done["task"]["call"]["error"] == "" and "Done" in done["reply"]
            ((payload, headers),) = bank_server.requests
            assert payload["arguments"] == {"account_type": "checking", "amount": "$200",
                                            "recipient_account_name": "Pranav",
                                            "recipient_account_type": "savings"}
            assert headers["idempotency-key"] == payload["idempotency_key"]
            # Words the tracker alone would not start the task on: the intent does.
            other = _client(s, "send").ask("Please send 200 dollars from my card to Pranav")
            assert other["route"] == "task" and other["task"]["intent"] == "TransferMoney"
            assert other["task"]["state"]["slot_values"]["amount"] == ["200 dollars"]
            # Bank words alone do not open the bank's task: a PIN question is the
            # PIN intent's hand-off, not "which account type?".
            pin = _client(s, "pin").ask("What's my bank card's PIN?")
            assert pin["route"] != "task" and pin.get("task") in (None, {}), pin
            assert pin["handoff"] is True, pin
        finally:
            s.stop(0)
    bad = tmp_path / "skills.yaml"
    bad.write_text("version: 1\nintents:\n  transfer_into_account: {task: Banks_9.Transfer}\n")
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables=conversation_models())
    mount_assistant(s, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, skills=str(bad), task_db=str(server.db))
    with pytest.raises(Exception, match="Banks_9"):
        s.start()
    s.stop(0)


class _ScriptedDst:
    """A `dst` servable with the real signature's outputs: it recognises the
    restaurant-booking row by its intent texts and reads two values from the turn."""

    name, version = "dst", 1

    def close(self):
        pass

    @property
    def signatures(self):
        from lepton_tf.server.servable import Signature, TensorSpec

        ins = {k: TensorSpec(k, "string", None) for k in
               ("user_utterance", "system_utterance", "intents", "slots", "slot_values")}
        outs = {"active_intent": TensorSpec("active_intent", "int32", (None,)),
                "slot_status": TensorSpec("slot_status", "int32", (None, None)),
                "requested_probabilities": TensorSpec("requested_probabilities", "float32",
                                                      (None, None)),
                "slot_value": TensorSpec("slot_value", "string", (None, None))}
        return {"serving_default": Signature(ins, outs)}

    def run(self, signature_name, inputs):
        import numpy as np

        intents, slots = inputs["intents"], inputs["slots"]
        rows, width = slots.shape
        intent = np.full(rows, -1, np.int32)
        status = np.zeros((rows, width), np.int32)
        value = np.full((rows, width), b"", object)
        user = inputs["user_utterance"][0].decode()
        for r in range(rows):
            texts = [t.decode() for t in intents[r]]
            if "Reserve a table at a restaurant" in texts and "Arcadia" in user:
                intent[r] = texts.index("Reserve a table at a restaurant")
                for k, slot in enumerate(t.decode() for t in slots[r]):
                    said = {"Name of the restaurant": "Arcadia",
                            "City in which the restaurant is located": "San Jose"}.get(slot)
                    if said:
                        status[r, k], value[r, k] = 2, said.encode()
        return {"active_intent": intent, "slot_status": status, "slot_value": value,
                "requested_probabilities": np.zeros((rows, width), np.float32)}


def test_the_learned_tracker_drives_the_tasks_through_the_hosted_dst(server):
    from conversation_fakes import conversation_models

    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables={**conversation_models(), "dst": _ScriptedDst()})
    mount_assistant(s, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, task_db=str(server.db), task_tracker="dst")
    s.start()
    try:
        answer = _client(s, "learned").ask("Please get me a table at Arcadia, San Jose")
        assert answer["route"] == "task" and answer["task"]["intent"] == "ReserveRestaurant"
        assert answer["task"]["state"]["slot_values"] == {"restaurant_name": ["Arcadia"],
                                                          "city": ["San Jose"]}
        assert "At what time?" in answer["reply"]  # the one required slot still missing
    finally:
        s.stop(0)
