"""The routing rule: search-worthy question, chit-chat / task dialogue, or out of scope.

Three signals per user turn:

- `search_score`: the cosine similarity of the best document the `search`
  servable finds (the knowledge base: StackFAQ, web-app questions);
- `dialogue_score`: the largest cosine similarity (same `encoder`) between
  the turn and a reference sample of Schema-Guided Dialogue user turns (the
  task dialogue the `chat` model was trained on: restaurants, buses,
  "thanks, that's all");
- the `intent` servable: a Banking77 intent, or `out_of_scope` when its
  calibrated max-probability is below its threshold;
- `domain_score`: the largest cosine similarity between the turn and a
  sample of the intent model's training requests (Banking77 train: the
  domain the assistant refuses).

The rule, in order:

1. `search` when `search_score >= search_threshold` (a knowledge-base
   question; below `not_found_threshold` the assistant answers that it found
   nothing, see `not_found`);
2. `smalltalk` when the turn is a greeting, thanks or goodbye
   (`chitchat_score`, its similarity to `smalltalk.TURNS`,
   `>= chitchat_threshold`), whatever the intent model says: a small intent
   model trained on banking requests alone calls "Hi there!" a banking intent;
With a `domain_score`, rules 3 to 6 are one: `chat` when the turn is more
like the SGD turns than like the intent domain's requests (`dialogue_score -
domain_score >= margin_threshold`) and like task dialogue at all
(`dialogue_score >= dialogue_floor`, or a short turn inside a task dialogue),
else `out_of_scope`. The banking intent model alone claims SGD turns ("How
much does the sedan cost per day?" is `disposable_card_limits`), and the
dialogue score alone overlaps between the two; their margin separates them
(`lepton-tf eval routing`). Without one:

3. `chat` when `dialogue_score >= service_threshold`: a request very like the
   SGD turns the chat model was trained on (restaurants, hotels, flights,
   rental cars, ...), even when the banking intent model claims it;
4. `out_of_scope` when the intent model recognises one of its (banking)
   intents with confidence: a request of a domain the assistant has neither
   documents nor dialogue skills for;
5. `chat` when `dialogue_score >= dialogue_threshold`, or the session is in
   a task dialogue already (its last route was `chat`) and the turn is short
   (a slot value such as "Fresno." or "4 people");
6. `out_of_scope` otherwise.

Thresholds are calibrated on data by `lepton_tf.assistant.calibration`
(StackFAQ test queries vs SGD user turns vs Banking77 test queries):
`lepton-tf eval routing --write FILE` measures them and writes the file the
assistant reads (`routing_thresholds`; the shipped one is its result). The
small-talk threshold is carried over from the file in use: it separates the
greetings of `smalltalk.TURNS` from every StackFAQ and Banking77 query, which
that command does not score.
"""

from __future__ import annotations

import dataclasses

from lepton_tf.assistant import routing_thresholds
from lepton_tf.index import not_found_rule
from lepton_tf.index.not_found_rule import DEFAULT_NOT_FOUND_THRESHOLD

SEARCH, CHAT, SMALLTALK, OUT_OF_SCOPE = "search", "chat", "smalltalk", "out_of_scope"
# A turn the dialogue manager took (the tracked intent is a schema's, or the turn
# answers its question): decided before these signals, see `assistant.tasks`.
TASK = "task"
# A turn the intent model claimed, answered by that intent's skill (`assistant.skills`:
# the business's answer, or a hand-off to a person) instead of a refusal.
SKILL = "skill"
ROUTES = (SEARCH, CHAT, SMALLTALK, OUT_OF_SCOPE, TASK, SKILL)
SHORT_TURN_WORDS = 4
# The shipped thresholds (`routing_thresholds.json`, written by `lepton-tf eval routing`):
# a `Router()` routes with them.
_SHIPPED = routing_thresholds.thresholds()


def default_router(known_questions: bool = False, thresholds_file: str | None = None,
                   ) -> "Router":
    """The calibrated router for an index with (or without) known questions.

    Args:
        known_questions: the index's documents carry known questions.
        thresholds_file: a `lepton-tf eval routing --write` file (None: the shipped one).

    Raises:
        ValueError: a missing or malformed thresholds file (see `routing_thresholds.load`).
    """
    return Router(**routing_thresholds.thresholds(known_questions, thresholds_file))


def index_has_known_questions(index_dir: str | None) -> bool:
    """Whether the latest index version under `index_dir` embeds known questions
    (False for no index, an unreadable one, or a sharded one: those have none)."""
    if not index_dir:
        return False
    from lepton_tf.index.storage import read_manifest

    try:
        return bool(read_manifest(index_dir).get("questions"))
    except (OSError, ValueError):
        return False


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
        chitchat_threshold: minimum similarity to greetings and thanks for `chat`
            even when the intent model claims the turn.
        use_intent: let a confident in-scope intent refuse (rule 4).
        service_threshold: minimum similarity to SGD user turns for `chat` even
            when the intent model claims the turn (rule 3).
        margin_threshold: minimum `dialogue_score - domain_score` for `chat`.
        dialogue_floor: minimum `dialogue_score` for `chat` (with a domain score).
        not_found_threshold: a search turn whose top score is below this is
            answered "not found" (`index.not_found_rule.threshold_rule`); the search
            servable's `not_found` flag (its index's calibrated rule), when it
            has one, decides instead.
    """

    search_threshold: float = _SHIPPED["search_threshold"]
    dialogue_threshold: float = _SHIPPED["dialogue_threshold"]
    use_intent: bool = True
    chitchat_threshold: float = _SHIPPED["chitchat_threshold"]
    service_threshold: float = _SHIPPED["service_threshold"]
    not_found_threshold: float = DEFAULT_NOT_FOUND_THRESHOLD
    margin_threshold: float = _SHIPPED["margin_threshold"]
    dialogue_floor: float = _SHIPPED["dialogue_floor"]

    def not_found(self, search_score: float | None) -> bool:
        """Whether a search turn's top score says the answer is not in the index."""
        return search_score is None or not_found_rule.threshold_rule(
            self.not_found_threshold).flags({"top1": search_score})

    def route(self, search_score: float | None, dialogue_score: float | None,
              intent: IntentResult | None, message: str = "", last_route: str = "",
              chitchat_score: float | None = None, domain_score: float | None = None) -> str:
        """`search`, `smalltalk`, `chat` or `out_of_scope` (None scores: that signal is
        unavailable)."""
        if search_score is not None and search_score >= self.search_threshold:
            return SEARCH
        if chitchat_score is not None and chitchat_score >= self.chitchat_threshold:
            return SMALLTALK
        in_dialogue = last_route == CHAT and len(message.split()) <= SHORT_TURN_WORDS
        if domain_score is not None and dialogue_score is not None:
            chatty = dialogue_score - domain_score >= self.margin_threshold and \
                (dialogue_score >= self.dialogue_floor or in_dialogue)
            return CHAT if chatty else OUT_OF_SCOPE
        if dialogue_score is not None and dialogue_score >= self.service_threshold:
            return CHAT
        if self.use_intent and intent is not None and intent.out_of_scope is False:
            return OUT_OF_SCOPE
        if dialogue_score is None or dialogue_score >= self.dialogue_threshold:
            return CHAT  # without a dialogue signal, anything not refused is chat
        if in_dialogue:
            return CHAT
        return OUT_OF_SCOPE
