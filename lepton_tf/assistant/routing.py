"""The routing rule: search-worthy question, chit-chat / task dialogue, or out of scope.

Three signals per user turn:

- `search_score`: the cosine similarity of the best document the `search`
  servable finds (the knowledge base: StackFAQ, web-app questions);
- `dialogue_score`: the largest cosine similarity (same `encoder`) between
  the turn and a reference sample of Schema-Guided Dialogue user turns (the
  task dialogue the `chat` model was trained on: restaurants, buses,
  "thanks, that's all");
- the `intent` servable: a Banking77 intent, or `out_of_scope` when its
  calibrated max-probability is below its threshold.

The rule, in order:

1. `search` when `search_score >= search_threshold`;
2. `out_of_scope` when the intent model recognises one of its (banking)
   intents with confidence: a request of a domain the assistant has neither
   documents nor dialogue skills for;
3. `chat` when `dialogue_score >= dialogue_threshold`, or the session is in
   a task dialogue already (its last route was `chat`) and the turn is short
   (a slot value such as "Fresno." or "4 people");
4. `out_of_scope` otherwise.

Thresholds are calibrated on data by `lepton_tf.assistant.calibration`
(StackFAQ test queries vs SGD user turns vs Banking77 test queries; see
`bench/assistant.py --calibrate`); the defaults below are its result.
"""

from __future__ import annotations

import dataclasses

SEARCH, CHAT, OUT_OF_SCOPE = "search", "chat", "out_of_scope"
ROUTES = (SEARCH, CHAT, OUT_OF_SCOPE)
# Calibrated with `python bench/assistant.py --calibrate` (encoder v1, StackFAQ index).
DEFAULT_SEARCH_THRESHOLD = 0.45
DEFAULT_DIALOGUE_THRESHOLD = 0.51
SHORT_TURN_WORDS = 4


@dataclasses.dataclass(frozen=True)
class IntentResult:
    """What the `intent` servable said about a turn."""

    intent: str
    confidence: float
    out_of_scope: bool | None  # None: the model does not say (no `out_of_scope` output)


@dataclasses.dataclass(frozen=True)
class Router:
    """Applies the rule of this module's docstring.

    Attributes:
        search_threshold: minimum top search score of a search-worthy question.
        dialogue_threshold: minimum similarity to SGD user turns for `chat`.
        use_intent: let a confident in-scope intent refuse (rule 2).
    """

    search_threshold: float = DEFAULT_SEARCH_THRESHOLD
    dialogue_threshold: float = DEFAULT_DIALOGUE_THRESHOLD
    use_intent: bool = True

    def route(self, search_score: float | None, dialogue_score: float | None,
              intent: IntentResult | None, message: str = "", last_route: str = "") -> str:
        """`search`, `chat` or `out_of_scope` (None scores: that signal is unavailable)."""
        if search_score is not None and search_score >= self.search_threshold:
            return SEARCH
        if self.use_intent and intent is not None and intent.out_of_scope is False:
            return OUT_OF_SCOPE
        if dialogue_score is None or dialogue_score >= self.dialogue_threshold:
            return CHAT  # without a dialogue signal, anything not refused is chat
        if last_route == CHAT and len(message.split()) <= SHORT_TURN_WORDS:
            return CHAT
        return OUT_OF_SCOPE
