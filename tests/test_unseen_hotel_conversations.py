"""Hotel bookings through the served assistant (gRPC stream and REST) on a service
no model was trained with: SGD's Hotels_4, only in its test schema (`place_name`,
`location`, `check_in_date`, `stay_length`, `number_of_rooms`). Searches and bookings
go through the shipped backends file's SQL backend into the example SQLite database.

Orders a user has: everything in the first turn, one slot per turn with a
correction, a knowledge-base and an off-topic question in the middle, a server
restart in the middle (the SQLite conversation store carries it). Every turn is
checked by `task_talk.Talk`: no invented value, no slot asked twice, no reservation
without a "yes" to a confirmation of exactly its values.
"""

import pytest
from stored_conversation import start
from task_talk import Talk, acts_of, local_day, reservations

from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, example_schemas
from lepton_tf.store import sqlite_url

SERVICE = "Hotels_4"
# A hotel of the example database whose name holds its city, as many do.
HOTEL, CITY, PHONE = "Ace Hotel London", "London", "+44 20 7613 9800"


@pytest.fixture(scope="module")
def hotel(tmp_path_factory):
    """`(db path, start())`: `start()` serves the assistant on the shipped backends."""
    from lepton_tf.data.paths import data_dir
    from lepton_tf.dialogue.schema import load_schema

    # Unseen: in SGD's schemas, not in the training one.
    assert SERVICE not in load_schema(data_dir() / "sgd" / "schema_train.json.gz")
    assert SERVICE in example_schemas()
    folder = tmp_path_factory.mktemp(SERVICE)
    db = folder / "example.sqlite"
    example_db.build_example_db(db)
    store = sqlite_url(str(folder / "conversations.sqlite"))

    def serve():
        return start(store, task_db=str(db), task_config=str(DEFAULT_BACKENDS_CONFIG),
                     task_services=(SERVICE, "Restaurants_1", "Movies_1"))
    yield str(db), serve


@pytest.fixture(scope="module")
def server(hotel):
    s = hotel[1]()
    yield s
    s.stop(0)


def booked(db: str, **values) -> int:
    return sum(all(r.get(k) == v for k, v in values.items()) for r in reservations(db))


def test_everything_in_the_first_turn_then_yes_books_once(hotel, server):
    db = hotel[0]
    talk = Talk(server, db, "hotel-all", {"tomorrow": local_day(1)})
    confirm = talk(f"Book 2 rooms at {HOTEL} in {CITY} for 3 nights from tomorrow")
    assert confirm["route"] == "task" and confirm["task"]["service"] == SERVICE
    assert acts_of(confirm, "CONFIRM") == {"place_name": HOTEL, "location": CITY,
                                           "check_in_date": local_day(1), "stay_length": "3",
                                           "number_of_rooms": "2"}
    done = talk("Yes, go ahead")
    assert done["task"]["call"]["error"] == "" and PHONE in done["reply"]
    assert booked(db, place_name=HOTEL, stay_length="3", number_of_rooms="2") == 1


def test_one_slot_per_turn_then_a_correction(hotel, server):
    db = hotel[0]
    talk = Talk(server, db, "hotel-one", {"tomorrow": local_day(1)}, transport="rest")
    asked = []
    for message in ("I'd like to reserve a hotel", HOTEL, "tomorrow", "3 nights"):
        asked += [a["slot"] for a in talk(message)["task"]["acts"] if a["act"] == "REQUEST"]
    assert asked == ["place_name", "check_in_date", "stay_length", "location"]
    assert acts_of(talk(CITY), "CONFIRM")["stay_length"] == "3"
    corrected = talk("make it 4 nights instead")
    assert acts_of(corrected, "CONFIRM") == {"place_name": HOTEL, "location": CITY,
                                             "check_in_date": local_day(1), "stay_length": "4",
                                             "number_of_rooms": "1"}
    done = talk("yes")
    assert done["task"]["call"]["call"]["arguments"]["stay_length"] == "4"
    assert booked(db, place_name=HOTEL, stay_length="4") == 1


def test_an_faq_and_an_off_topic_question_in_the_middle(hotel, server):
    db = hotel[0]
    talk = Talk(server, db, "hotel-mid", {"tomorrow": local_day(1)})
    before = len(reservations(db))
    talk(f"Reserve a room at {HOTEL} in {CITY} for 2 nights from tomorrow")
    faq = talk("How do I delete my Facebook account?")
    assert faq["route"] == "search" and faq["citations"] and not faq.get("task")
    off = talk("What is the capital of France?")
    assert off["route"] != "task" and not off.get("task") and "Paris" not in off["reply"]
    assert len(reservations(db)) == before  # nothing without the yes
    done = talk("Yes please")
    assert done["route"] == "task" and done["task"]["call"]["error"] == ""
    assert done["task"]["call"]["call"]["arguments"]["place_name"] == HOTEL
    assert len(reservations(db)) == before + 1


def test_a_restart_in_the_middle_of_a_booking(hotel, server):
    db, serve = hotel
    talk = Talk(server, db, "hotel-restart", {"tomorrow": local_day(1)}, transport="rest")
    first = talk(f"I want to book a room at {HOTEL}")
    assert [a["slot"] for a in first["task"]["acts"]] == ["check_in_date"]
    fresh = serve()  # another server on the same store and database
    try:
        talk.restart(fresh)
        asked = talk("tomorrow, for 5 nights")
        assert [a["slot"] for a in asked["task"]["acts"]] == ["location"]
        confirm = talk(CITY)
        assert acts_of(confirm, "CONFIRM")["place_name"] == HOTEL
        done = talk("yes")
        assert done["task"]["call"]["call"]["arguments"]["stay_length"] == "5"
        assert booked(db, place_name=HOTEL, stay_length="5") == 1
    finally:
        fresh.stop(0)
