"""The assistant's scores fall back when a model is missing, never on a deadline (issue 15).

`dialogue_score`, `smalltalk`, `domain_score` and the answer's similarity return
None (or words in common) when the encoder is not served; a DEADLINE_EXCEEDED or
CANCELLED from the encoder (a slice refused because it would end after the
turn's deadline) must stop the turn instead of letting it go on computing.
"""

from __future__ import annotations

import grpc
import pytest

from lepton_tf.assistant.backends import ServerBackends
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
