"""Task dialogues as a user has them, against the real example database (SQLite).

Every conversation checks, turn by turn:
- every value the system states is in the user's words (as resolved dates and
  times the test spells out), in a backend's rows, or a schema default;
- the reply states exactly the acts' values (the value check);
- no slot the user gave is asked for again;
- nothing transactional happens without a confirmation of those exact values
  answered by a yes.
"""

import datetime
import json
import sqlite3

import pytest

from lepton_tf.dialogue import acts as A
from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.backends_config import load_backends, parse_backends
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, example_schemas
from lepton_tf.dialogue.lookup_tracker import LookupTracker
from lepton_tf.dialogue.policy import Policy, TaskMemory
from lepton_tf.dialogue.replies import template_reply, value_errors
from lepton_tf.dialogue.user_acts import AFFIRM, reply_kind
from webhook_server import ActionServer

SERVICES = ("Restaurants_1", "Hotels_1", "Flights_1", "RentalCars_1", "Movies_1")
# Monday 7 December 2026, 4 pm where the caller is.
NOW = datetime.datetime(2026, 12, 7, 16, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-8)))
TODAY, TOMORROW = "2026-12-07", "2026-12-08"


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "example.sqlite"
    example_db.build_example_db(path)
    return str(path)


@pytest.fixture(scope="module")
def schemas():
    every = example_schemas()
    return {name: every[name] for name in SERVICES}


@pytest.fixture(scope="module")
def tracker(db_path, schemas):
    return LookupTracker.from_sqlite(db_path, schemas, SERVICES)


def sql_backends(db_path):
    return load_backends(DEFAULT_BACKENDS_CONFIG, example_schemas(), environ={},
                         overrides={"example_db": {"url": f"sqlite:///{db_path}"}})


def reservations(db_path):
    with sqlite3.connect(db_path) as db:
        return [(intent, json.loads(args)) for intent, args in
                db.execute("SELECT intent, arguments FROM reservations ORDER BY id")]


class Conversation:
    """Runs user turns through the policy and checks the rules of the module docstring."""

    def __init__(self, policy, said: dict | None = None, session: str = "s"):
        self.policy, self.memory, self.session = policy, TaskMemory(), session
        self.said = {k.lower(): v for k, v in (said or {}).items()}  # phrase -> resolved
        self.user_text, self.rows, self.last_confirm = "", [], {}
        self.defaults = {v for s in policy.schemas.values() for i in s.intents
                         for v in i.optional_slots.values()} | {TODAY}
        self.transactions = []

    def traceable(self, value: str) -> bool:
        if value.lower() in self.user_text.lower() or value in self.defaults:
            return True
        if any(value in row.values() for row in self.rows):
            return True
        return value in self.said.values() and any(p in self.user_text.lower() for p, v in
                                                  self.said.items() if v == value)

    def __call__(self, text: str):
        before = dict(self.memory.state.service(self.memory.service).slot_values) \
            if self.memory.service else {}
        self.user_text += " " + text
        decision = self.policy.turn(self.memory, self.session, text, NOW)
        service = self.policy.schemas.get(decision.service)
        reply = template_reply(decision.acts, service) if decision.acts else ""
        self.memory.last_system = reply
        if decision.call is not None:
            self.rows.extend(dict(r) for r in decision.call.rows)
            if decision.call.call.transactional:
                # No action without a yes to a confirmation of exactly these values.
                assert reply_kind(text) == AFFIRM, text
                assert dict(decision.call.call.arguments) == self.last_confirm
                self.transactions.append(decision.call)
        for act in decision.acts:
            if act.act == A.REQUEST and act.slot and not act.values:
                assert act.slot not in before, f"re-asked {act.slot} after {text!r}"
            if act.act in (A.OFFER_INTENT, A.INFORM_COUNT):
                continue
            for value in act.values:
                assert self.traceable(value), f"{act.act} {act.slot}={value!r} is invented"
        assert value_errors(reply, decision.acts) == ([], []), reply
        confirms = {a.slot: a.values[0] for a in decision.acts if a.act == A.CONFIRM}
        if confirms:
            self.last_confirm = confirms
        return decision, reply


def kinds(decision):
    return {a.act for a in decision.acts}


def test_all_slots_in_the_first_turn_then_yes_books_one_table(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)),
                        {"tomorrow": TOMORROW, "8pm": "20:00"}, "all-in-one")
    decision, reply = talk("Can you book me a table at Arcadia in San Jose for 4 people "
                           "tomorrow at 8pm?")
    assert {a.slot: a.values[0] for a in decision.acts if a.act == A.CONFIRM} == {
        "restaurant_name": "Arcadia", "city": "San Jose", "time": "20:00", "date": TOMORROW,
        "party_size": "4"}
    assert "Tuesday, December 8, 2026" in reply and "8 pm" in reply
    assert reservations(db_path) == [] or all(a["restaurant_name"] != "Arcadia" or
                                               a["party_size"] != "4"
                                               for _, a in reservations(db_path))
    decision, reply = talk("Yes, go ahead")
    assert A.NOTIFY_SUCCESS in kinds(decision)
    assert "408-278-4555" in reply  # Arcadia's phone number, from the database
    booked = [a for _, a in reservations(db_path) if a.get("party_size") == "4"
              and a["restaurant_name"] == "Arcadia"]
    assert booked == [{"restaurant_name": "Arcadia", "city": "San Jose", "time": "20:00",
                       "date": TOMORROW, "party_size": "4"}]


def test_one_slot_per_turn_with_a_correction_before_the_yes(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)),
                        {"7 pm": "19:00", "tomorrow": TOMORROW}, "one-by-one")
    asked = []
    for text in ("I'd like to reserve a table", "Arcadia", "San Jose"):
        decision, _ = talk(text)
        asked += [a.slot for a in decision.acts if a.act == A.REQUEST]
    assert asked == ["restaurant_name", "city", "time"]
    decision, reply = talk("7 pm")
    assert A.CONFIRM in kinds(decision) and "Monday, December 7, 2026" in reply  # default: today
    decision, reply = talk("Actually tomorrow, please")
    assert {a.slot: a.values[0] for a in decision.acts if a.act == A.CONFIRM}["date"] == TOMORROW
    assert not talk.transactions
    decision, _ = talk("yes")
    assert A.NOTIFY_SUCCESS in kinds(decision)
    assert talk.transactions[0].call.arguments["date"] == TOMORROW


def test_search_offers_one_at_a_time_and_books_the_one_chosen(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)),
                        {"tonight": TODAY, "at 7": "19:00", "8": "20:00"}, "offer")
    decision, _ = talk("Book a table for two at an Italian place in San Jose tonight at 7")
    first = decision.offered
    assert A.OFFER in kinds(decision) and first["cuisine"] == "Italian" \
        and first["city"] == "San Jose"
    decision, _ = talk("Do you have another one?")
    second = decision.offered
    assert second["restaurant_name"] != first["restaurant_name"]
    decision, reply = talk("What's their phone number?")
    assert second["phone_number"] in reply
    decision, _ = talk("Yes please")
    assert {a.slot: a.values[0] for a in decision.acts if a.act == A.CONFIRM}[
        "restaurant_name"] == second["restaurant_name"]
    decision, _ = talk("Make it 8 instead")
    assert {a.slot: a.values[0] for a in decision.acts if a.act == A.CONFIRM}["time"] == "20:00"
    decision, reply = talk("Yes")
    assert A.NOTIFY_SUCCESS in kinds(decision)
    assert talk.transactions[0].rows[0]["street_address"] == second["street_address"]


def test_no_results_is_said_and_nothing_is_offered(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)))
    decision, reply = talk("Find me a Japanese restaurant in Sunnyvale")
    assert kinds(decision) == {A.NO_RESULTS} and not decision.offered
    assert "found nothing" in reply and "Japanese" in reply and "Sunnyvale" in reply


def test_a_backend_timeout_is_said_and_a_retried_yes_books_once(db_path, schemas, tracker):
    delays = iter([2.0])
    booked: dict = {}

    def booking_system(payload, headers):
        key = headers["idempotency-key"]
        row = booked.setdefault(key, {**payload["arguments"], "phone_number": "408-278-4555"})
        return 200, {"version": "1", "results": [row]}, next(delays, 0.0)
    with ActionServer(booking_system) as server:
        backends = parse_backends({"version": 1, "backends": {
            "bookings": {"type": "http", "url": server.url, "timeout_s": 0.5, "retries": 3}},
            "bind": {"Restaurants_1.ReserveRestaurant": "bookings"}}, example_schemas())
        talk = Conversation(Policy(schemas, tracker, backends),
                            {"7 pm": "19:00", "tomorrow": TOMORROW}, "timeout")
        talk("Book a table at Arcadia in San Jose tomorrow at 7 pm")
        decision, reply = talk("yes")
        assert kinds(decision) == {A.BACKEND_ERROR} and decision.call.error == "timeout"
        assert "couldn't reach" in reply and "booked" not in reply.lower()
        decision, reply = talk("yes")
        assert A.NOTIFY_SUCCESS in kinds(decision)
    keys = [headers["idempotency-key"] for _, headers in server.requests]
    # The transaction was sent once per yes (never retried by the client on its own),
    # both times with the key of the turn that asked: the server booked one table.
    assert len(keys) == 2 and len(set(keys)) == 1 and len(booked) == 1


def test_cancel_and_an_unrelated_turn(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)),
                        {"7 pm": "19:00"}, "cancel")
    talk("Book a table at Arcadia in San Jose at 7 pm")
    decision, _ = talk("What is the capital of France?")
    assert decision.acts == []  # not the task's: the assistant answers it elsewhere
    decision, _ = talk("never mind, cancel it")
    assert kinds(decision) == {A.CANCELLED}
    decision, _ = talk("yes")
    assert not talk.transactions


def test_a_retried_yes_after_the_booking_does_not_book_again(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)),
                        {"7 pm": "19:00"}, "twice")
    talk("Book a table at Paesano in San Jose at 7 pm for 3 people")
    before = len(reservations(db_path))
    talk("yes")
    decision, _ = talk("yes")
    assert A.NOTIFY_SUCCESS not in kinds(decision)
    assert len(reservations(db_path)) == before + 1


def test_an_answer_to_another_question_fills_its_own_slot(db_path, schemas, tracker):
    """Asked for the restaurant, the user names the city: it is the city, not the name."""
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)), {}, "other-slot")
    decision, _ = talk("I'd like to reserve a table")
    assert [a.slot for a in decision.acts if a.act == A.REQUEST] == ["restaurant_name"]
    decision, _ = talk("San Jose")
    values = talk.memory.state.service("Restaurants_1").slot_values
    assert values["city"] == ("San Jose",) and "restaurant_name" not in values
    assert [a.slot for a in decision.acts if a.act == A.REQUEST] == ["restaurant_name"]


def test_a_question_about_the_offer_is_answered_from_its_row(db_path, schemas, tracker):
    talk = Conversation(Policy(schemas, tracker, sql_backends(db_path)), {"tonight": TODAY},
                        "question")
    decision, _ = talk("I want to see a movie in San Jose tonight")
    offered = decision.offered
    assert A.OFFER in kinds(decision)
    decision, reply = talk("What genre is it?")
    assert [(a.act, a.slot, a.values) for a in decision.acts] == [
        (A.INFORM, "genre", (offered["genre"],))]
    assert decision.call is None  # answered from the row on offer, not a new search


def test_a_question_from_a_slot_description_drops_its_article():
    """SGD describes Banks_1's `account_type` as "The account type of the user": the
    question for it must not read "What the account type ...?"."""
    reply = template_reply([A.Act(A.REQUEST, "account_type")], example_schemas()["Banks_1"])
    assert reply == "What account type of the user would you like?"
