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
(`bench/assistant.py --calibrate`). Without one:

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
(StackFAQ test queries vs SGD user turns vs Banking77 test queries; see
`bench/assistant.py --calibrate`); the defaults below are its result.
"""

from __future__ import annotations

import dataclasses

from lepton_tf.index import not_found
from lepton_tf.index.not_found import DEFAULT_NOT_FOUND_THRESHOLD

SEARCH, CHAT, SMALLTALK, OUT_OF_SCOPE = "search", "chat", "smalltalk", "out_of_scope"
# A turn the dialogue manager took (the tracked intent is a schema's, or the turn
# answers its question): decided before these signals, see `assistant.tasks`.
TASK = "task"
# A turn the intent model claimed, answered by that intent's skill (`assistant.skills`:
# the business's answer, or a hand-off to a person) instead of a refusal.
SKILL = "skill"
ROUTES = (SEARCH, CHAT, SMALLTALK, OUT_OF_SCOPE, TASK, SKILL)
# Calibrated with `python bench/assistant.py --calibrate` on the main job's default encoder,
# zero-shot all-MiniLM-L6-v2, its StackFAQ index (self-tuned w 0.95) and intent v1.
# The fine-tuned encoder v1 (`configs/encoder_full.yaml`) gave 0.45 / 0.51.
DEFAULT_SEARCH_THRESHOLD = 0.462
# For an index whose documents have known questions (`index.known_questions`: a search
# score is then the best of the document's cosine and its known questions', higher for
# every turn): `python bench/assistant.py --calibrate` on the main job's StackFAQ index with
# its 874 train paraphrases, the other thresholds unchanged. Held-out halves: StackFAQ to
# search 99.5%, SGD to chat 98.5%, Banking77 refused 98.5% (at 0.462: 100% / 98.0% / 89.0%,
# 10% of Banking77 requests sent to search).
KNOWN_QUESTIONS_SEARCH_THRESHOLD = 0.596
DEFAULT_DIALOGUE_THRESHOLD = 0.522
# Zero-shot MiniLM encoder, similarity to `backends.CHITCHAT_TURNS`: Banking77 test (3,079
# queries) max 0.364, StackFAQ test queries (375) max 0.270; "Hi there!" 0.80, "Hello" 0.77,
# "bye" 0.87, "Thanks!" 0.58, "Good evening" 0.93 (encoder v1: max 0.374 / 0.263 over 1,249
# StackFAQ queries; 0.81, 0.78, 0.79, 0.58, 0.70), so 0.5 still separates them.
DEFAULT_CHITCHAT_THRESHOLD = 0.5
# Rule 3, `python bench/assistant.py --calibrate` (zero-shot MiniLM encoder, intent v1 of
# the main job): among turns the intent model claims, SGD test turns against Banking77 test
# queries by the dialogue score, best balanced accuracy on the fit halves. The main job's
# intent model claims none of the SGD fit turns, so the calibration keeps rule 3 off (1.01,
# above any cosine); it applies only without a domain score. Encoder v1 (fine-tuned): 0.589.
DEFAULT_SERVICE_THRESHOLD = 1.01
SHORT_TURN_WORDS = 4
# `python bench/assistant.py --calibrate` (zero-shot MiniLM encoder, intent v1; SGD test
# turns against Banking77 test queries not routed to search, fit halves): the margin of best
# balanced accuracy, and the floor under which 2% of the SGD turns fall. On the held-out
# halves (188 StackFAQ / 200 SGD / 200 Banking77): SGD turns to chat 98.0%, Banking77 refused
# 97.0%, StackFAQ to search 98.9%. Encoder v1 (fine-tuned) gave 0.008 / 0.392 and 97.5% /
# 98.5% / 98.9%; its thresholds on the zero-shot signals: 98.0% / 97.5% / 99.5%.
DEFAULT_MARGIN_THRESHOLD = -0.016
DEFAULT_DIALOGUE_FLOOR = 0.394


def default_router(known_questions: bool = False) -> "Router":
    """The calibrated thresholds for an index with (or without) known questions."""
    return Router(KNOWN_QUESTIONS_SEARCH_THRESHOLD) if known_questions else Router()


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
            answered "not found" (`index.not_found.threshold_rule`); the search
            servable's `not_found` flag (its index's calibrated rule), when it
            has one, decides instead.
    """

    search_threshold: float = DEFAULT_SEARCH_THRESHOLD
    dialogue_threshold: float = DEFAULT_DIALOGUE_THRESHOLD
    use_intent: bool = True
    chitchat_threshold: float = DEFAULT_CHITCHAT_THRESHOLD
    service_threshold: float = DEFAULT_SERVICE_THRESHOLD
    not_found_threshold: float = DEFAULT_NOT_FOUND_THRESHOLD
    margin_threshold: float = DEFAULT_MARGIN_THRESHOLD
    dialogue_floor: float = DEFAULT_DIALOGUE_FLOOR

    def not_found(self, search_score: float | None) -> bool:
        """Whether a search turn's top score says the answer is not in the index."""
        return search_score is None or not_found.threshold_rule(
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
