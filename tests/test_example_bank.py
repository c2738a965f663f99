"""The shipped example's bank: Banking77's "transfer_into_account" skill starts SGD's
Banks_1.TransferMoney, and after a yes the shipped backends file's SQL backend moves
the money in the example database (the customer's accounts from SGD's Banks_1
results): one database transaction, one idempotency key, an honest refusal when the
balance is too low. The assistant is served over gRPC with the shipped skills and
backends files, nothing replaced."""

import sqlite3
import threading
from decimal import Decimal

import pytest
from conftest import free_port
from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.commands.serve import DEFAULT_SKILLS
from lepton_tf.dialogue import example_db
from lepton_tf.dialogue.backend import BackendCall
from lepton_tf.dialogue.backends_config import load_backends
from lepton_tf.dialogue.example_services import DEFAULT_BACKENDS_CONFIG, example_schemas
from lepton_tf.server.app import ModelServer, ServerOptions


def _balances(db) -> dict:
    with sqlite3.connect(db) as conn:
        return {t: Decimal(b) for t, b in conn.execute("SELECT account_type, balance FROM banks_1")}


@pytest.fixture
def bank(tmp_path):
    db = tmp_path / "example.sqlite"
    example_db.build_example_db(db)
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables=conversation_models())
    mount_assistant(s, router=Router(search_threshold=0.3, dialogue_threshold=0.6),
                    dialogue_turns=DIALOGUE_TURNS, search_k=3, domain_turns=DOMAIN_TURNS,
                    skills=DEFAULT_SKILLS, task_db=str(db), task_config=DEFAULT_BACKENDS_CONFIG)
    s.start()
    s.db = db
    yield s
    s.stop(0)


def _client(server, session):
    from lepton_tf.client.assistant import AssistantClient

    return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id=session, timeout_s=20)


def test_the_example_accounts_hold_sgd_balances(tmp_path):
    db = tmp_path / "example.sqlite"
    example_db.build_example_db(db)
    # The first balance SGD's Banks_1 returned for each account type (train split).
    assert _balances(db) == {"checking": Decimal("5118.77"), "savings": Decimal("6175.85")}


def test_a_transfer_moves_money_once_after_the_yes(bank):
    before = _balances(bank.db)
    client = _client(bank, "transfer")
    start = client.ask("I want to transfer $200 from checking to savings")
    assert (start["task"]["service"], start["task"]["intent"]) == ("Banks_1", "TransferMoney")
    confirm = client.ask("Pranav")
    assert confirm["task"]["pending"] == "confirm" and "$200" in confirm["reply"]
    assert _balances(bank.db) == before  # nothing moves before the yes
    done = client.ask("yes")
    call = done["task"]["call"]
    assert call["backend"] == "example_db" and call["error"] == "" and not call["declined"], call
    assert "no system" not in done["reply"] and "Done" in done["reply"], done["reply"]
    assert _balances(bank.db) == {**before, "checking": before["checking"] - 200}
    with sqlite3.connect(bank.db) as db:
        ((key, service),) = db.execute("SELECT idempotency_key, service FROM reservations")
    assert key == call["call"]["idempotency_key"] and service == "Banks_1"
    # A second yes has nothing pending: no second transfer.
    again = client.ask("yes")
    assert again["task"].get("call") in (None, {}) or again["task"]["call"]["call"][
        "transactional"] is False
    assert _balances(bank.db)["checking"] == before["checking"] - 200


def test_a_transfer_beyond_the_balance_is_refused_and_moves_nothing(bank):
    before = _balances(bank.db)
    client = _client(bank, "too-much")
    client.ask("I want to transfer $9,000 from checking to savings")
    assert client.ask("Pranav")["task"]["pending"] == "confirm"
    refused = client.ask("yes")
    assert refused["task"]["call"]["declined"] == "insufficient funds"
    assert "insufficient funds" in refused["reply"] and "Done" not in refused["reply"]
    assert _balances(bank.db) == before
    with sqlite3.connect(bank.db) as db:
        assert db.execute("SELECT count(*) FROM reservations").fetchone()[0] == 0


def test_a_retried_transfer_moves_money_once_even_when_sent_together(tmp_path):
    """The same confirmation sent again (a lost answer retried), also from two
    threads at once: one debit, one record, the first record returned to both."""
    db = tmp_path / "example.sqlite"
    example_db.build_example_db(db)
    backends = load_backends(DEFAULT_BACKENDS_CONFIG, example_schemas(), environ={},
                             overrides={"example_db": {"url": f"sqlite:///{db}"}})
    call = BackendCall("Banks_1", "TransferMoney",
                       {"account_type": "savings", "amount": "1180",
                        "recipient_account_name": "Maria", "recipient_account_type": "checking"},
                       transactional=True, idempotency_key="session-1~ab:3")
    before = _balances(db)
    results = []
    threads = [threading.Thread(target=lambda: results.append(backends.call(call)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.append(backends.call(call))
    assert all(r.ok and r.rows == results[0].rows for r in results), results
    assert results[0].rows[0]["amount"] == "1180"
    assert _balances(db) == {**before, "savings": before["savings"] - 1180}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
