"""Whether a query's answer is in the index: a calibrated rule over a few search signals.

A single top-score threshold does not separate questions the index can
answer from those it cannot (on StackFAQ with encoder v1, the top-1 cosine
rule that flags 90% of unanswerable questions also flags 13% of answerable
ones). The rule is a logistic model over per-query signals the search
already has (`query_features`):

- `top1`: the best cosine similarity;
- `margin`: top-1 minus top-2 cosine (a lone match stands out);
- `spread`: top-1 minus the mean of the top `TOP_K` cosines;
- `bm25`: the best BM25 score per query token (its words, stemmed, minus
  stop words);
- `cover`: the share of those tokens the index's vocabulary holds at all (a
  question about something the index never mentions has unknown words);
- `length`: log of the number of those tokens;
- `question_top1`, `question_margin`, `question_top3`: for an index whose
  documents list the questions they are known to answer
  (`index.known_questions`), the query's best cosine to one, its margin over
  the best question of other documents, and the mean of the best 3.

`lepton-tf index` fits it for a corpus whose ids name their thread
(StackFAQ: `t12-q3`, `t12-a0`; see `lepton_tf.evaluation.not_found`) and
writes it into the index version as `not_found.json` (checksummed in the
manifest). An index without one uses `default_rule`: with embedded known
questions (a user's FAQ JSONL) `DEFAULT_QUESTIONS_RULE`, else (a user's folder
of files) `DEFAULT_RULE`, top-1 cosine below
`DEFAULT_NOT_FOUND_THRESHOLD`; both calibrated on StackFAQ with the default
encoder. An index without BM25 (sharded) lacks `bm25` and `cover`, and one
without embedded known questions (sharded, Beam-built) the `question_*`
signals: a rule that needs what the index lacks falls back to `default_rule`
there too.

The search servable's `not_found` output is `NotFoundRule.flags`; the
assistant router's fallback (a search backend without the output) is
`DEFAULT_RULE` on the top score: one definition.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from lepton_tf.index.known_questions import FEATURES as QUESTION_FEATURES

FILE_NAME = "not_found.json"
TOP_K = 10  # cosines `spread` averages
FEATURES = ("top1", "margin", "spread", "bm25", "cover", "length") + QUESTION_FEATURES
LEXICAL_FEATURES = frozenset({"bm25", "cover"})
# The single top-1 cosine threshold for the main job's default encoder, zero-shot
# all-MiniLM-L6-v2: `lepton-tf eval not-found --index indexes/stackfaq --features
# top1` (StackFAQ, fitted on 3 folds of 25 threads left out, cut for 90% of the unanswerable
# questions; on the 2 held-out folds 90.7% of 150 flagged, 16.8% of 600 answerable ones). The
# six-feature rule `lepton-tf index` fits on the same folds: 92.0% / 15.8%. With the fine-tuned
# encoder v1 the threshold was 0.633 (90.0% / 13.2%; its fitted rule 90.7% / 11.3%).
DEFAULT_NOT_FOUND_THRESHOLD = 0.626


def query_features(top_cosines: np.ndarray, text: str, lexical=None,
                   questions: dict | None = None,
                   bm25_scores: np.ndarray | None = None) -> dict[str, float]:
    """The signals of one query.

    Args:
        top_cosines: its best cosine similarities, best first (at least one;
            `TOP_K` or more for `spread`).
        text: the query string.
        lexical: the index's `LexicalIndex` (None: no `bm25` / `cover`).
        questions: its `KnownQuestions.features` (None: no `question_*`).
        bm25_scores: its BM25 scores as the search computed them (None:
            scored here with `lexical`).

    Returns:
        feature name -> value (`bm25` and `cover` only with `lexical`).
    """
    top = np.asarray(top_cosines, np.float64).reshape(-1)
    features = {"top1": float(top[0]) if top.size else -1.0,
                "margin": float(top[0] - top[1]) if top.size > 1 else 0.0,
                "spread": float(top[0] - top[:TOP_K].mean()) if top.size else 0.0}
    features.update(questions or {})
    if lexical is None:
        return features
    tokens = lexical.tokens(text)
    known = [t for t in tokens if t in lexical.retriever.vocab_dict]
    n = max(1, len(tokens))
    if not (known and len(lexical)):
        best = 0.0
    else:  # BM25 scores are >= 0: the best over all rows is the best passage's
        best = float((lexical.scores(text) if bm25_scores is None else bm25_scores).max())
    features.update(bm25=best / n, cover=len(known) / n, length=math.log(n))
    return features


@dataclasses.dataclass(frozen=True)
class NotFoundRule:
    """`z = bias + sum(weights * (x - mean) / scale)`; flagged when `z > cut`.

    `z` is the log-odds that the answer is not in the index (for a fitted
    rule); `cut` is the operating point chosen on calibration questions.

    Attributes:
        features: names among `FEATURES`.
        weights, mean, scale: one per feature.
        bias, cut: floats.
        fitted_on: what chose it (shown by `eval not-found`, kept in the file).
    """

    features: tuple
    weights: tuple
    mean: tuple
    scale: tuple
    bias: float = 0.0
    cut: float = 0.0
    fitted_on: dict = dataclasses.field(default_factory=dict, compare=False)

    def needs_lexical(self) -> bool:
        return bool(LEXICAL_FEATURES & set(self.features))

    def needs_questions(self) -> bool:
        return bool(set(QUESTION_FEATURES) & set(self.features))

    def score(self, features: dict) -> float:
        """The rule's `z` for one query's `query_features`.

        Raises:
            KeyError: a feature the rule needs is missing.
        """
        x = np.array([features[f] for f in self.features], np.float64)
        return float(self.bias + np.dot(self.weights, (x - self.mean) / self.scale))

    def flags(self, features: dict) -> bool:
        """Whether the query's answer is taken not to be in the index."""
        return self.score(features) > self.cut

    def to_dict(self) -> dict:
        return {"features": list(self.features), "weights": list(self.weights),
                "mean": list(self.mean), "scale": list(self.scale), "bias": self.bias,
                "cut": self.cut, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, doc: dict) -> "NotFoundRule":
        """Raises ValueError on an unknown feature or mismatched lengths."""
        features = tuple(doc["features"])
        lengths = {len(doc[k]) for k in ("weights", "mean", "scale")}
        if not features or set(features) - set(FEATURES) or lengths != {len(features)} \
                or any(float(s) <= 0 for s in doc["scale"]):
            raise ValueError(f"not a not-found rule over {FEATURES}: {doc}")
        return cls(features, tuple(map(float, doc["weights"])), tuple(map(float, doc["mean"])),
                   tuple(map(float, doc["scale"])), float(doc.get("bias", 0.0)),
                   float(doc.get("cut", 0.0)), dict(doc.get("fitted_on", {})))


def threshold_rule(threshold: float) -> NotFoundRule:
    """The single-score rule `top1 < threshold`."""
    return NotFoundRule(("top1",), (-1.0,), (float(threshold),), (1.0,), 0.0, 0.0,
                        {"rule": f"top1 < {threshold}"})


DEFAULT_RULE = threshold_rule(DEFAULT_NOT_FOUND_THRESHOLD)
# For an index whose documents list known questions but that has no fitted rule (a
# user's FAQ JSONL with "questions"): the dense and known-question signals fitted on all
# of StackFAQ's leave-threads-out folds with zero-shot all-MiniLM-L6-v2, cut for 92%
# (`lepton-tf eval not-found --index indexes/stackfaq --features top1,margin,spread,
# question_top1,question_margin,question_top3`: this feature set, fitted per rotation,
# flags 91.1% of held-out unanswerable questions and 6.5% of answerable ones).
DEFAULT_QUESTIONS_RULE = NotFoundRule(
    ("top1", "margin", "spread") + QUESTION_FEATURES,
    (-0.3902, 0.5467, -0.8389, -0.7638, -1.3563, -1.8239),
    (0.6798, 0.0304, 0.1398, 0.7801, 0.2316, 0.7404),
    (0.1318, 0.0299, 0.0826, 0.1385, 0.1421, 0.1315), -2.7495, 0.3366,
    {"rule": "default for an index with known questions (StackFAQ, zero-shot MiniLM)"})


def default_rule(has_questions: bool = False) -> NotFoundRule:
    """The rule of an index without `not_found.json`: `DEFAULT_QUESTIONS_RULE`
    when it has embedded known questions, else `DEFAULT_RULE`."""
    return DEFAULT_QUESTIONS_RULE if has_questions else DEFAULT_RULE


def load_rule(version_dir: str | None, has_questions: bool = False) -> NotFoundRule:
    """The rule written into an index version, else `default_rule(has_questions)`.

    An index without BM25 cannot run a rule that `needs_lexical()`, nor one
    without known questions a rule that `needs_questions()`: the search
    servable falls back to `default_rule` for it (and for sharded indexes).

    Args:
        version_dir: an index version folder (None: the default).
        has_questions: whether the index embeds known questions (its default).

    Raises:
        ValueError: an unreadable `not_found.json`.
    """
    path = os.path.join(version_dir, FILE_NAME) if version_dir else ""
    if not path or not os.path.exists(path):
        return default_rule(has_questions)
    try:
        with open(path, encoding="utf-8") as f:
            rule = NotFoundRule.from_dict(json.load(f))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable not-found rule ({e}).") from None
    return rule


def rule_file(rule: NotFoundRule) -> dict[str, str]:
    """`extra_files` entry of `storage.save_index` for `rule`."""
    return {FILE_NAME: json.dumps(rule.to_dict(), indent=1) + "\n"}
