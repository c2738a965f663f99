"""The assistant stops at its turn's deadline.

Its turn waits for side work and for its session only until the deadline.

`dialogue_score`, `smalltalk`, `domain_score` and the answer's similarity return
None (or words in common) when the encoder is not served; a DEADLINE_EXCEEDED or
CANCELLED from the encoder (a slice refused because it would end after the
turn's deadline) must stop the turn instead of letting it go on computing.
"""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from lepton_tf.assistant.backends import ServerBackends
from lepton_tf.assistant.engine import Assistant
from lepton_tf.assistant.grounding import RetrievedPassage
from lepton_tf.assistant.routing import IntentResult, Router
from lepton_tf.server import deadline
from lepton_tf.server.errors import ServingError


class Refusing:
    """A model manager whose every servable raises `error`."""

    def __init__(self, error: ServingError):
        self.error = error

    def servable(self, name):
        raise self.error


def _backends(code):
    return ServerBackends(Refusing(ServingError(code, "no")), dialogue_turns=["hello there"],
                          smalltalk_turns=(["how are you"], ["greeting"]),
                          domain_turns=["block my card"])


@pytest.mark.parametrize("score", ["dialogue_score", "smalltalk", "domain_score"])
def test_a_missing_encoder_gives_no_score(score):
    assert getattr(_backends(grpc.StatusCode.NOT_FOUND), score)("hi") is None


@pytest.mark.parametrize("code", [grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED])
@pytest.mark.parametrize("score", ["dialogue_score", "smalltalk", "domain_score"])
def test_a_refused_encoder_stops_the_turn(score, code):
    with pytest.raises(ServingError) as raised:
        getattr(_backends(code), score)("hi")
    assert raised.value.code == code


class SlowBackends:
    """Search is instant; intent (side work in the assistant's pool) takes `intent_s`,
    chat `chat_s`. No model calls: only the turn's own waits are bounded here."""

    def __init__(self, intent_s=0.0, search_s=0.0):
        self.intent_s, self.search_s = intent_s, search_s

    def search(self, query, k):
        time.sleep(self.search_s)
        return [RetrievedPassage("g1", "Change a Gmail password", "Open Settings, Accounts.", 0.9)]

    def intent(self, text):
        time.sleep(self.intent_s)
        return IntentResult("x", 0.1, True)

    def dialogue_score(self, text):
        return 0.1

    def chat(self, context):
        return "Open Settings."


def _refused_within(assistant, message: str, seconds: float, within: float) -> None:
    """`assistant.answer("s", message)` under a `seconds` deadline is DEADLINE_EXCEEDED
    within `within` seconds."""
    start = time.monotonic()
    with deadline.scope(seconds), pytest.raises(ServingError) as raised:
        assistant.answer("s", message)
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - start < within


def test_a_turn_waiting_for_its_side_work_is_answered_at_its_deadline():
    """Intent takes 2 s; the turn's deadline is 0.3 s: DEADLINE_EXCEEDED at about
    0.3 s, not a finished turn 1.7 s late."""
    assistant = Assistant(SlowBackends(intent_s=2.0), Router(0.5, 0.5))
    _refused_within(assistant, "How do I change my Gmail password?", 0.3, within=1.0)
    assistant.close()


def test_a_turn_queued_behind_its_session_is_answered_at_its_deadline():
    """A first turn holds the session for 1.5 s (a slow search); a second turn of the
    same session with 0.2 s left is answered DEADLINE_EXCEEDED at its deadline."""
    assistant = Assistant(SlowBackends(search_s=1.5), Router(0.5, 0.5))
    first = threading.Thread(target=assistant.answer, args=("s", "Gmail password?"))
    first.start()
    time.sleep(0.1)
    _refused_within(assistant, "and on my phone?", 0.2, within=0.8)
    first.join()
    assistant.close()
