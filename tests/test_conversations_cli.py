"""The store from the command line: where `lepton-tf serve --assistant` keeps it by
default, `lepton-tf conversations forget|purge`, and `/good` `/bad` in `lepton-tf ask`."""

import os

import pytest
from stored_conversation import start

from lepton_tf.cli import build_parser, main
from lepton_tf.commands.serve import conversation_store_url
from lepton_tf.store import ConversationStore, TurnRecord, new_turn_id, sqlite_url
from lepton_tf.store import schema


def _serve_args(*flags):
    return build_parser().parse_args(["serve", "--port", "0", "--rest_api_port", "0", *flags])


def test_the_store_defaults_to_a_sqlite_file_beside_the_index(tmp_path):
    index = str(tmp_path / "indexes" / "stackfaq")
    assert conversation_store_url(_serve_args("--search_index", index + "/")) == \
        sqlite_url(index + ".conversations.sqlite")
    assert conversation_store_url(_serve_args(
        "--conversation_store", "postgresql://u:p@db:5432/lepton")) == \
        "postgresql://u:p@db:5432/lepton"
    assert conversation_store_url(_serve_args("--conversation_store", "none")) is None
    assert conversation_store_url(_serve_args("--conversation_store", "x.sqlite")) == \
        sqlite_url("x.sqlite")


def test_the_store_url_may_come_from_the_environment(tmp_path, monkeypatch):
    """As Kubernetes passes it from a Secret: no password on the command line."""
    monkeypatch.setenv("LEPTON_CONVERSATION_STORE", "postgresql://u:secret@db:5432/lepton")
    index = str(tmp_path / "indexes" / "stackfaq")
    assert conversation_store_url(_serve_args("--search_index", index)) == \
        "postgresql://u:secret@db:5432/lepton"
    # A flag still wins over the environment.
    assert conversation_store_url(_serve_args("--conversation_store", "none")) is None
    assert conversation_store_url(_serve_args("--conversation_store", "x.sqlite")) == \
        sqlite_url("x.sqlite")


def test_serve_assistant_opens_its_store_at_start(tmp_path, monkeypatch):
    from lepton_tf.commands.serve import build_server

    monkeypatch.chdir(tmp_path)
    os.makedirs("indexes/stackfaq")
    build_server(_serve_args("--assistant"))
    store = ConversationStore.open(sqlite_url("indexes/stackfaq.conversations.sqlite"))
    assert store.version() == schema.SCHEMA_VERSION
    (tmp_path / "bad.sqlite").write_bytes(b"not sqlite" * 500)
    with pytest.raises(Exception, match="corrupt"):
        build_server(_serve_args("--assistant", "--conversation_store", "bad.sqlite"))


def test_conversations_forget_and_purge(tmp_path, capsys):
    path = str(tmp_path / "c.sqlite")
    store = ConversationStore.open(sqlite_url(path))
    store.write_turn(TurnRecord(new_turn_id(), "alice", "hello", "smalltalk"), {}, 1)
    store.write_turn(TurnRecord(new_turn_id(), "bob", "hi", "smalltalk"), {}, 1)
    assert main(["conversations", "forget", "alice", "--conversation_store", path]) == 0
    assert "deleted 2 rows of session alice" in capsys.readouterr().out
    assert main(["conversations", "forget", "alice", "--conversation_store", path]) == 2
    assert capsys.readouterr().err.strip() == \
        "lepton-tf conversations: error: No stored session 'alice'."
    assert main(["conversations", "purge", "--days", "30", "--conversation_store", path]) == 0
    assert [t["session_id"] for t in store.turns()] == ["bob"]
    assert main(["conversations", "purge", "--days", "1",
                 "--conversation_store", str(tmp_path / "none.sqlite")]) == 2


def test_forget_names_a_restricted_callers_session_by_its_principal(tmp_path, capsys):
    """A caller with its own identity keeps its sessions under its name (the same id
    from an unrestricted caller is another session)."""
    path = str(tmp_path / "c.sqlite")
    store = ConversationStore.open(sqlite_url(path))
    store.write_turn(TurnRecord(new_turn_id(), "carol\x1fs1", "hello", "smalltalk"), {}, 1)
    store.write_turn(TurnRecord(new_turn_id(), "s1", "hi", "smalltalk"), {}, 1)
    assert main(["conversations", "forget", "s1", "--principal", "carol",
                 "--conversation_store", path]) == 0
    assert "deleted 2 rows of session s1" in capsys.readouterr().out
    assert [t["session_id"] for t in store.turns()] == ["s1"]
    store.close()


def test_ask_rates_the_last_answer_with_good_and_bad(tmp_path, capsys):
    from lepton_tf.commands.ask import run

    url = sqlite_url(str(tmp_path / "c.sqlite"))
    server = start(url)
    try:
        args = build_parser().parse_args(["ask", "--target", f"127.0.0.1:{server.grpc_port}"])
        typed = iter(["/good", "How do I delete my Facebook account?", "/good",
                      "Create Gmail filters", "/bad wrong filter page", "/quit"])
        assert run(args, input_fn=lambda prompt: next(typed)) == 0
    finally:
        server.stop(0)
    out = capsys.readouterr().out
    assert "(nothing to rate yet: ask something first)" in out
    assert out.count("(thanks: answer rated") == 2
    store = ConversationStore.open(url)
    turns = {t["turn_id"]: t["message"] for t in store.turns()}
    assert [(turns[f["turn_id"]], f["rating"], f["comment"]) for f in store.feedback()] == [
        ("How do I delete my Facebook account?", "up", ""),
        ("Create Gmail filters", "down", "wrong filter page")]
