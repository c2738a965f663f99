"""A conversation store serving callers with their own identities (tokens, JWTs):
each caller's session is stored under its own key, so a restricted caller's
conversation goes on turn after turn, its feedback finds its turns, and deleting
its session deletes its data and nobody else's of the same session id."""

import pytest
from stored_conversation import start

from lepton_tf.server import identity
from lepton_tf.store import ConversationStore, UnknownTurnError, sqlite_url

QUESTION = "How do I delete my Facebook account?"
ALICE, BOB = identity.Principal("alice"), identity.Principal("bob")


def test_restricted_callers_sessions_feedback_and_deletion_are_their_own(tmp_path):
    url = sqlite_url(str(tmp_path / "c.sqlite"))
    server = start(url)
    try:
        with server.manager.servable("assistant") as servable:
            assistant = servable.assistant

            def ask(principal, message):
                with identity.acting_as(principal):
                    return assistant.answer("shared-id", message)

            first = ask(ALICE, QUESTION)
            shown = [p.doc_id for _, p in first.citations] or None
            assert first.route == "search", first
            bobs = ask(BOB, QUESTION)
            # Alice's follow-up is answered from her stored session (read back each turn).
            follow = ask(ALICE, "what about the second one?")
            assert [n for n, _ in follow.citations] == [2], (follow, shown)
            with identity.acting_as(BOB):
                with pytest.raises(UnknownTurnError):  # not Bob's turn
                    assistant.feedback("shared-id", follow.turn_id, "up")
                assistant.feedback("shared-id", bobs.turn_id, "down")
            with identity.acting_as(ALICE):
                assistant.feedback("shared-id", follow.turn_id, "up")
                assert assistant.forget("shared-id") >= 3  # 2 turns, 1 rating, the session
        store = ConversationStore.open(url)
        kept = [(t["message"], t["turn_id"]) for t in store.turns()]
        ratings = [(f["turn_id"], f["rating"]) for f in store.feedback()]
        store.close()
        assert kept == [(QUESTION, bobs.turn_id)]  # Bob's turn outlives Alice's deletion
        assert ratings == [(bobs.turn_id, "down")]
    finally:
        server.stop(0)
