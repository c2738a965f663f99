"""Bookings as a user has them, through the served assistant (gRPC stream and REST),
on a service the models were trained with (SGD's Restaurants_1) and on one only in
SGD's test schema (Restaurants_2, other slot names: `location`, `number_of_seats`).

The business's side is real: searches run SQL on the example SQLite database, and
bookings go to an HTTP action server (webhook contract v1) on 127.0.0.1 that books
through the SQL backend into the same database, keyed by the idempotency key.

Every turn of every conversation is checked by `task_talk.Talk`: no invented value,
the reply states exactly the acts' values, no slot asked twice, no reservation
without a "yes" to a confirmation of exactly its values.
"""

import json

import pytest
from stored_conversation import start
from task_talk import Talk, acts_of, local_day, reservations
from webhook_server import ActionServer

from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.backend import BackendCall, BackendError
from lepton_tf.dialogue.example_services import example_schemas
from lepton_tf.dialogue.sql_backend import SqlBackend
from lepton_tf.store import sqlite_url

# Per service: the restaurant booked, its phone number in the database, its slot names,
# and a search the database has nothing for.
SERVICES = {
    "Restaurants_1": {"name": "Arcadia", "phone": "408-278-4555", "city": "city",
                      "people": "party_size", "nothing": "Find me a Japanese restaurant "
                                                         "in Sunnyvale"},
    "Restaurants_2": {"name": "Chacho's", "phone": "408-293-4321", "city": "location",
                      "people": "number_of_seats", "nothing": "Find me a Japanese restaurant "
                                                             "in Sunnyvale"},
}
OTHER_SERVICES = ("Hotels_1", "Movies_1")


class BookingSystem:
    """The business's action server: books through SQL into the example database.
    `slow_next(s)` makes the next booking answer after `s` seconds (it is made first)."""

    def __init__(self, db_path: str):
        self.sql = SqlBackend(f"sqlite:///{db_path}", example_schemas())
        self.delay = 0.0
        self.server = ActionServer(self.handle)

    def slow_next(self, seconds: float) -> None:
        self.delay = seconds

    def handle(self, payload, headers):
        delay, self.delay = self.delay, 0.0
        call = BackendCall(payload["service"], payload["intent"], payload["arguments"],
                           payload["transactional"], headers.get("idempotency-key", ""),
                           payload.get("selected") or {})
        try:
            return 200, {"version": "1", "results": self.sql.call(call)}, delay
        except BackendError as e:
            return 500, {"error": str(e)}, delay

    def transactions(self) -> list[dict]:
        return [p for p, _ in self.server.requests if p["transactional"]]


@pytest.fixture(scope="module", params=sorted(SERVICES))
def shop(request, tmp_path_factory):
    """`(service, spec, db path, booking system, start())`: `start()` serves the
    assistant over that database and backends, with a SQLite conversation store."""
    service = request.param
    folder = tmp_path_factory.mktemp(service)
    db = folder / "example.sqlite"
    example_db.build_example_db(db)
    bookings = BookingSystem(str(db))
    config = folder / "backends.yaml"
    config.write_text(json.dumps({"version": 1, "backends": {
        "example_db": {"type": "sql", "url": "sqlite:///unused.sqlite", "timeout_s": 5,
                       "pass_through": ["party_size", "number_of_seats", "date", "time"]},
        "bookings": {"type": "http", "url": bookings.server.url, "timeout_s": 0.5,
                     "retries": 2}},
        "bind": {f"{service}.ReserveRestaurant": "bookings", "*.*": "example_db"}}))
    store = sqlite_url(str(folder / "conversations.sqlite"))

    def serve():
        return start(store, task_db=str(db), task_config=str(config),
                     task_services=(service, *OTHER_SERVICES))
    yield service, SERVICES[service], str(db), bookings, serve
    bookings.server.close()


@pytest.fixture(scope="module")
def server(shop):
    s = shop[4]()
    yield s
    s.stop(0)


def test_all_slots_in_the_first_turn_then_yes_books_once(shop, server):
    service, spec, db, _, _ = shop
    talk = Talk(server, db, f"all-{service}", {"tomorrow": local_day(1), "8 pm": "20:00",
                                                "four": "4"})
    confirm = talk(f"Can you book me a table at {spec['name']} in San Jose for four people "
                   "tomorrow at 8 pm?")
    assert confirm["route"] == "task" and confirm["task"]["service"] == service
    assert acts_of(confirm, "CONFIRM") == {"restaurant_name": spec["name"],
                                           spec["city"]: "San Jose", "time": "20:00",
                                           "date": local_day(1), spec["people"]: "4"}
    booked = talk("Yes, go ahead")
    assert booked["task"]["call"]["error"] == "" and spec["phone"] in booked["reply"]
    assert sum(r["restaurant_name"] == spec["name"] and r[spec["people"]] == "4"
               for r in reservations(db)) == 1


def test_one_slot_per_turn_then_a_correction(shop, server):
    service, spec, db, _, _ = shop
    talk = Talk(server, db, f"one-{service}", {"7 pm": "19:00", "8": "20:00"},
                transport="rest")
    asked = []
    for message in ("I'd like to reserve a table", spec["name"], "San Jose"):
        asked += [a["slot"] for a in talk(message)["task"]["acts"] if a["act"] == "REQUEST"]
    assert asked == ["restaurant_name", spec["city"], "time"]
    assert acts_of(talk("7 pm"), "CONFIRM")["time"] == "19:00"
    corrected = talk("make it 8 instead")
    assert acts_of(corrected, "CONFIRM")["time"] == "20:00" and "8 pm" in corrected["reply"]
    booked = talk("yes")
    assert booked["task"]["call"]["call"]["arguments"]["time"] == "20:00"


def test_a_search_with_no_results_says_so(shop, server):
    service, spec, db, _, _ = shop
    talk = Talk(server, db, f"none-{service}")
    final = talk(spec["nothing"])
    assert {a["act"] for a in final["task"]["acts"]} == {"NO_RESULTS"}
    assert final["task"]["results"] == [] and final["task"]["offered"] == {}
    assert "Japanese" in final["reply"] and "Sunnyvale" in final["reply"]


def test_a_booking_system_timeout_is_said_and_the_retried_yes_books_once(shop, server):
    service, spec, db, bookings, _ = shop
    talk = Talk(server, db, f"timeout-{service}", {"tomorrow": local_day(1), "7 pm": "19:00",
                                                    "three": "3"})
    talk(f"Book a table for three at {spec['name']} in San Jose tomorrow at 7 pm")
    sent = len(bookings.transactions())
    bookings.slow_next(2.0)
    late = talk("yes")
    assert late["task"]["call"]["error"] == "timeout"
    assert "couldn't reach" in late["reply"] and "booked" not in late["reply"].lower()
    done = talk("yes")
    assert done["task"]["call"]["error"] == "" and spec["phone"] in done["reply"]
    keys = {p["idempotency_key"] for p in bookings.transactions()[sent:]}
    assert len(bookings.transactions()) == sent + 2 and len(keys) == 1
    assert sum(r[spec["people"]] == "3" and r["restaurant_name"] == spec["name"]
               for r in reservations(db)) == 1  # the late booking, made once


def test_an_faq_and_an_off_topic_question_in_the_middle(shop, server):
    service, spec, db, _, _ = shop
    talk = Talk(server, db, f"mid-{service}", {"7 pm": "19:00"})
    talk(f"Book a table at {spec['name']} in San Jose at 7 pm")
    faq = talk("How do I delete my Facebook account?")
    assert faq["route"] == "search" and faq["citations"] and not faq.get("task")
    off = talk("What is the capital of France?")
    assert off["route"] != "task" and not off.get("task") and "Paris" not in off["reply"]
    booked = talk("Yes please")
    assert booked["route"] == "task" and booked["task"]["call"]["error"] == ""
    assert booked["task"]["call"]["call"]["arguments"]["restaurant_name"] == spec["name"]


def test_a_restart_in_the_middle_of_a_booking(shop, server):
    service, spec, db, _, serve = shop
    talk = Talk(server, db, f"restart-{service}", {"6 pm": "18:00", "5": "5"},
                transport="rest")
    talk(f"I want to book a table at {spec['name']} in San Jose")
    fresh = serve()  # another server on the same store and database
    try:
        talk.restart(fresh)
        confirm = talk("at 6 pm for 5 people")
        assert acts_of(confirm, "CONFIRM")["restaurant_name"] == spec["name"]
        booked = talk("yes")
        assert booked["task"]["call"]["call"]["arguments"][spec["people"]] == "5"
    finally:
        fresh.stop(0)
