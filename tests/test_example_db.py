"""The example database: SGD's service results, extracted and loaded into SQLite."""

import gzip
import json
import sqlite3

import pytest

from lepton_tf.dialogue import example_db

SCHEMA = [{
    "service_name": "Restaurants_9", "description": "Find and book restaurants",
    "slots": [{"name": n, "description": n, "is_categorical": False, "possible_values": []}
              for n in ("city", "restaurant_name", "time", "phone_number")],
    "intents": [
        {"name": "FindRestaurants", "description": "find", "is_transactional": False,
         "required_slots": ["city"], "optional_slots": {},
         "result_slots": ["city", "restaurant_name", "phone_number"]},
        {"name": "ReserveRestaurant", "description": "book", "is_transactional": True,
         "required_slots": ["restaurant_name", "time"], "optional_slots": {},
         "result_slots": ["restaurant_name", "time"]}]}]


def _frame(method, results):
    return {"service": "Restaurants_9", "actions": [], "slots": [],
            "service_call": {"method": method, "parameters": {}},
            "service_results": results}


def _sgd_folder(tmp_path):
    found = [{"city": "Fresno", "restaurant_name": "Bobby's", "phone_number": "555-1"},
             {"city": "Fresno", "restaurant_name": "Casa", "phone_number": "555-2"}]
    dialogue = {"dialogue_id": "1", "services": ["Restaurants_9"], "turns": [
        {"speaker": "SYSTEM", "utterance": "", "frames": [_frame("FindRestaurants", found)]},
        # The same rows again, and a booking's result: neither adds an entity.
        {"speaker": "SYSTEM", "utterance": "", "frames": [_frame("FindRestaurants", found[:1])]},
        {"speaker": "SYSTEM", "utterance": "", "frames": [_frame(
            "ReserveRestaurant", [{"restaurant_name": "Bobby's", "time": "19:00"}])]}]}
    for split in ("train", "dev", "test"):
        (tmp_path / split).mkdir(parents=True)
        (tmp_path / split / "schema.json").write_text(json.dumps(SCHEMA))
        with gzip.open(tmp_path / split / "dialogues_001.json.gz", "wt") as fh:
            json.dump([dialogue] if split == "train" else [], fh)
    return tmp_path


def test_extract_keeps_each_search_result_once_and_no_booking(tmp_path):
    out = tmp_path / "entities.jsonl.gz"
    counts = example_db.extract_entities(_sgd_folder(tmp_path / "sgd"), out, {"Restaurants_9"})
    assert counts == {"Restaurants_9": 2}
    (table,) = list(example_db.read_entities(out))
    assert table["columns"] == ["city", "phone_number", "restaurant_name"]
    assert table["rows"] == [["Fresno", "555-1", "Bobby's"], ["Fresno", "555-2", "Casa"]]


def test_vendored_entities_build_a_database_of_real_restaurants(tmp_path):
    db_path = tmp_path / "example.sqlite"
    counts = example_db.build_example_db(db_path)
    # The catalogue, and the example bank customer's two accounts.
    assert len(counts) == len(example_db.EXAMPLE_SERVICES) + 1 and counts["banks_1"] == 2
    assert counts["restaurants_1"] > 1000 and counts["hotels_1"] > 1000
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT street_address, phone_number FROM restaurants_1 WHERE "
                          "restaurant_name = 'Al Castello Ristorante' AND city = 'San Jose'"
                          ).fetchall()
        reservations = db.execute("SELECT count(*) FROM reservations").fetchone()[0]
    # A row of SGD's own results, attributes and all; nothing booked yet.
    assert rows == [("2083 Camden Avenue", "408-369-9820")]
    assert reservations == 0
    assert example_db.ensure_example_db(db_path) is False


def test_a_database_built_before_the_accounts_gets_them_and_keeps_its_bookings(tmp_path):
    db_path = tmp_path / "example.sqlite"
    example_db.build_example_db(db_path)
    with sqlite3.connect(db_path) as db:
        db.execute("DROP TABLE banks_1")
        db.execute("INSERT INTO reservations (service, intent, idempotency_key, arguments, "
                   "result, created_at) VALUES ('Restaurants_1', 'ReserveRestaurant', 'k', "
                   "'{}', '{}', 'now')")
    assert example_db.ensure_example_db(db_path) is False
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT account_type FROM banks_1 ORDER BY 1").fetchall() == [
            ("checking",), ("savings",)]
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1


def test_names_that_are_not_identifiers_never_reach_sql():
    with pytest.raises(ValueError, match="identifier"):
        example_db.table_name('x"; DROP TABLE reservations; --')
