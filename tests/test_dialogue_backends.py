"""The business's side: SQL (SQLite, PostgreSQL), HTTP webhook and Python backends."""

import shutil
import sqlite3
import subprocess
import time

import pytest

from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.backend import BackendCall, BackendError, idempotency_key
from lepton_tf.dialogue.backends_config import ConfigError, load_backends, parse_backends
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, example_schemas
from lepton_tf.dialogue.python_backend import PythonBackend
from lepton_tf.dialogue.sql_backend import SqlBackend
from lepton_tf.dialogue.webhook import WebhookBackend
from postgres_server import Unavailable, start_postgres
from webhook_server import ActionServer

PASS_THROUGH = ["party_size", "number_of_seats"]
FIND = BackendCall("Restaurants_1", "FindRestaurants",
                   {"cuisine": "italian", "city": "san jose", "price_range": "dontcare"})


def _book(key, name="Arcadia", time_="19:00"):
    return BackendCall("Restaurants_1", "ReserveRestaurant",
                       {"restaurant_name": name, "city": "San Jose", "time": time_,
                        "date": "2026-12-08", "party_size": "2"},
                       transactional=True, idempotency_key=key)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "example.sqlite"
    example_db.build_example_db(path)
    return f"sqlite:///{path}"


def _searches_and_books_once(backend, count_reservations):
    found = backend.call(FIND)
    assert len(found) > 5
    assert {"restaurant_name": "Arcadia", "city": "San Jose", "cuisine": "Italian",
            "price_range": "expensive", "street_address": "100 West San Carlos Street",
            "phone_number": "408-278-4555", "has_live_music": "False",
            "serves_alcohol": "True"} in found
    assert all(r["city"] == "San Jose" and r["cuisine"] == "Italian" for r in found)
    first = backend.call(_book(idempotency_key("s1", 4)))
    # The retried confirmation (same session and turn) gets the same booking back ...
    again = backend.call(_book(idempotency_key("s1", 4)))
    assert first == again
    with pytest.raises(BackendError, match="used for another request"):
        backend.call(_book(idempotency_key("s1", 4), time_="20:00"))
    assert first[0]["time"] == "19:00" and first[0]["phone_number"] == "408-278-4555"
    assert count_reservations() == 1
    # ... a restaurant the database does not hold is not booked.
    assert backend.call(_book(idempotency_key("s1", 5), name="Nowhere Bistro")) == []
    assert count_reservations() == 1
    assert backend.call(_book(idempotency_key("s2", 1)))[0]["restaurant_name"] == "Arcadia"
    assert count_reservations() == 2


def test_sqlite_searches_with_slot_values_and_books_once_per_key(sqlite_url):
    backend = SqlBackend(sqlite_url, example_schemas(), PASS_THROUGH)
    path = sqlite_url[len("sqlite:///"):]

    def count():
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*) FROM reservations").fetchone()[0]
    _searches_and_books_once(backend, count)


def test_sql_backend_says_what_it_cannot_do(sqlite_url, tmp_path):
    backend = SqlBackend(sqlite_url, example_schemas(), PASS_THROUGH)
    with pytest.raises(BackendError) as e:
        backend.call(BackendCall("Calendar_1", "GetEvents", {"event_date": "2019-03-01"}))
    assert e.value.kind == "unsupported"
    missing = SqlBackend(f"sqlite:///{tmp_path}/none.sqlite", example_schemas())
    with pytest.raises(BackendError) as e:
        missing.call(FIND)
    assert e.value.kind == "unreachable"


@pytest.fixture(scope="module")
def postgres_url():
    try:
        url, stop = start_postgres()
    except Unavailable as e:
        pytest.skip(str(e))
    import psycopg

    with psycopg.connect(url) as db:
        example_db.load_example_tables(db, "%s", {"Restaurants_1"})
    yield url
    stop()


def test_postgres_searches_and_books_once_per_key(postgres_url):
    import psycopg

    backend = SqlBackend(postgres_url, example_schemas(), PASS_THROUGH)

    def count():
        with psycopg.connect(postgres_url) as db:
            return db.execute("SELECT count(*) FROM reservations").fetchone()[0]
    _searches_and_books_once(backend, count)


def _results(rows):
    return lambda payload, headers: (200, {"version": "1", "results": rows}, 0)


def test_webhook_contract_token_and_idempotency_header():
    with ActionServer(_results([{"restaurant_name": "Arcadia", "rating": 4.5}])) as server:
        backend = WebhookBackend(server.url, token="s3cret", timeout_s=2)
        rows = backend.call(_book("s1:4"))
    assert rows == [{"restaurant_name": "Arcadia", "rating": "4.5"}]
    payload, headers = server.requests[0]
    assert payload["version"] == "1" and payload["intent"] == "ReserveRestaurant"
    assert payload["arguments"]["date"] == "2026-12-08" and payload["transactional"] is True
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["idempotency-key"] == payload["idempotency_key"] == "s1:4"


def test_webhook_retries_searches_but_not_transactions():
    statuses = iter([503, 200])

    def flaky(payload, headers):
        status = next(statuses, 503)
        return status, {"version": "1", "results": []} if status == 200 else \
            {"error": "busy"}, 0
    with ActionServer(flaky) as server:
        backend = WebhookBackend(server.url, timeout_s=2, retries=2, backoff_s=0.01)
        assert backend.call(FIND) == []
        assert len(server.requests) == 2
        with pytest.raises(BackendError) as e:
            backend.call(_book("s1:4"))
        assert e.value.kind == "failed" and "busy" in e.value.detail
        assert len(server.requests) == 3  # one attempt: a retry might book twice


def test_webhook_timeout_is_an_error_within_the_timeout():
    with ActionServer(lambda p, h: (200, {"version": "1", "results": []}, 3.0)) as server:
        backend = WebhookBackend(server.url, timeout_s=0.5, retries=0)
        start = time.perf_counter()
        with pytest.raises(BackendError) as e:
            backend.call(_book("s1:4"))
        assert e.value.kind == "timeout"
        assert time.perf_counter() - start < 2.0


def test_webhook_bad_answers_are_errors():
    for body in (b"not json", {"version": "1"}, {"version": "2", "results": []},
                 {"version": "1", "results": [{"price": {"nested": 1}}]}):
        with ActionServer(lambda p, h, b=body: (200, b, 0)) as server:
            with pytest.raises(BackendError) as e:
                WebhookBackend(server.url, timeout_s=2).call(FIND)
            assert e.value.kind == "bad_response"


def test_webhook_refuses_plain_http_to_another_host():
    with pytest.raises(ValueError, match="https"):
        WebhookBackend("http://bookings.example.com/actions", token="t")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_webhook_over_tls_verifies_the_certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    with ActionServer(_results([{"ok": "yes"}]), str(cert), str(key)) as server:
        assert WebhookBackend(server.url, ca_file=str(cert)).call(FIND) == [{"ok": "yes"}]
        with pytest.raises(BackendError) as e:  # not signed by a CA the system trusts
            WebhookBackend(server.url, retries=0).call(FIND)
        assert e.value.kind == "unreachable" and "TLS" in e.value.detail


def slow_backend(call):
    time.sleep(2)
    return []


def broken_backend(call):
    raise KeyError("no such account")


def test_python_backend_timeout_and_failure():
    with pytest.raises(BackendError) as e:
        PythonBackend("test_dialogue_backends:slow_backend", timeout_s=0.2).call(FIND)
    assert e.value.kind == "timeout"
    with pytest.raises(BackendError) as e:
        PythonBackend("test_dialogue_backends:broken_backend").call(FIND)
    assert e.value.kind == "failed" and "no such account" in e.value.detail
    with pytest.raises(ValueError, match="module:function"):
        PythonBackend("tests.test_dialogue_backends")


def test_shipped_config_binds_the_catalogue_to_the_database(sqlite_url):
    backends = load_backends(DEFAULT_BACKENDS_CONFIG, example_schemas(), environ={},
                             overrides={"example_db": {"url": sqlite_url}})
    assert backends.bound("Restaurants_1", "ReserveRestaurant") == "example_db"
    assert backends.bound("Banks_1", "TransferMoney") == "example_db"
    assert backends.bound("Calendar_1", "AddEvent") == ""
    result = backends.call(BackendCall("Calendar_1", "AddEvent", {"event_name": "Lunch"},
                                       True, "s:1"))
    assert not result.ok and result.error == "unsupported" and result.rows == ()
    found = backends.call(BackendCall("Hotels_1", "SearchHotel",
                                      {"destination": "Seattle", "number_of_rooms": "2"}))
    assert found.ok and found.rows and all(r["destination"] == "Seattle" for r in found.rows)
    assert all(r["number_of_rooms"] == "2" for r in found.rows)  # passed through


def test_config_errors_name_the_field():
    schemas = example_schemas()
    with pytest.raises(ConfigError, match="bind.Restaurants_1.*: no backend named 'db2'"):
        parse_backends({"version": 1, "backends": {}, "bind": {"Restaurants_1.*": "db2"}},
                       schemas)
    with pytest.raises(ConfigError, match="backends.api.token_env: API_TOKEN is not set"):
        parse_backends({"version": 1, "backends": {"api": {
            "type": "http", "url": "https://x.example/a", "token_env": "API_TOKEN"}},
            "bind": {}}, schemas, environ={})
    with pytest.raises(ConfigError, match="unknown keys"):
        parse_backends({"version": 1, "backends": {"db": {"type": "sql", "uri": "x"}},
                        "bind": {}}, schemas)
