"""Per-frame metrics of Schema-Guided Dialogue state tracking, as SGD's scorer defines them.

A port of ``schema_guided_dst/metrics.py`` (google-research, Apache-2.0), the
official DSTC8 scorer, so figures compare with published ones:

- active intent accuracy: 1 when the frame's active intent is right;
- requested slots F1 (and precision, recall) over the frame's requested slots;
- average goal accuracy: mean correctness over the slots the reference fills;
- joint goal accuracy: the product of the correctness of *every* slot of the
  service (a slot neither side fills counts 1);
- the same two split into categorical and non-categorical slots;
- slot tagging F1, only when a prediction carries ``slots`` spans.

Categorical values must match the reference's first value exactly; free-text
values score the best fuzzy token-sort ratio against any reference value, so a
nearly right value gives a fractional score (and a fractional joint accuracy).
A metric that does not apply to a frame is ``NAN_VAL`` and is left out of averages.

    >>> round(noncat_slot_value_match(["Bird Dog"], "Bird", use_fuzzy_match=True), 2)
    0.67
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from rapidfuzz import fuzz

from lepton_tf.dialogue.schema import Service

ACTIVE_INTENT_ACCURACY = "active_intent_accuracy"
SLOT_TAGGING_F1 = "slot_tagging_f1"
SLOT_TAGGING_PRECISION = "slot_tagging_precision"
SLOT_TAGGING_RECALL = "slot_tagging_recall"
REQUESTED_SLOTS_F1 = "requested_slots_f1"
REQUESTED_SLOTS_PRECISION = "requested_slots_precision"
REQUESTED_SLOTS_RECALL = "requested_slots_recall"
AVERAGE_GOAL_ACCURACY = "average_goal_accuracy"
AVERAGE_CAT_ACCURACY = "average_cat_accuracy"
AVERAGE_NONCAT_ACCURACY = "average_noncat_accuracy"
JOINT_GOAL_ACCURACY = "joint_goal_accuracy"
JOINT_CAT_ACCURACY = "joint_cat_accuracy"
JOINT_NONCAT_ACCURACY = "joint_noncat_accuracy"

# The scorer's marker for "does not apply to this frame".
NAN_VAL = "NA"

# fuzzywuzzy's full_process, which the official scorer runs before comparing:
# drop the Latin-1 upper half (force_ascii), turn non-word characters into
# spaces, lower-case, trim.
_LATIN1_UPPER = {i: None for i in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


class F1Scores(NamedTuple):
    """F1 with its precision and recall."""

    f1: float
    precision: float
    recall: float


def compute_f1(list_ref: Sequence, list_hyp: Sequence) -> F1Scores:
    """F1 of a predicted multiset against a reference multiset.

    Both empty scores 1 (precision and recall of nothing are 1 by convention).

    Args:
        list_ref: the true elements.
        list_hyp: the predicted elements.

    Returns:
        F1, precision and recall.
    """
    ref = collections.Counter(list_ref)
    hyp = collections.Counter(list_hyp)
    true = sum(ref.values())
    positive = sum(hyp.values())
    true_positive = sum((ref & hyp).values())
    precision = float(true_positive) / positive if positive else 1.0
    recall = float(true_positive) / true if true else 1.0
    f1 = 2.0 * precision * recall / (precision + recall) if precision + recall > 0.0 else 0.0
    return F1Scores(f1=f1, precision=precision, recall=recall)


def _full_process(text: str) -> str:
    return _NON_WORD.sub(" ", text.translate(_LATIN1_UPPER)).lower().strip()


def fuzzy_string_match(str_ref: str, str_hyp: str) -> float:
    """fuzzywuzzy's ``token_sort_ratio`` (with its default processing) / 100, in [0, 1].

    rapidfuzz computes the same Indel ratio as fuzzywuzzy with python-Levenshtein;
    the score is rounded to a whole percent as fuzzywuzzy does.
    """
    return int(round(fuzz.token_sort_ratio(_full_process(str_ref), _full_process(str_hyp)))) / 100.0


def noncat_slot_value_match(str_ref_list: Sequence[str], str_hyp: str, use_fuzzy_match: bool = True) -> float:
    """The best match score of a free-text value against any reference value.

    Args:
        str_ref_list: the reference's values (equivalent surface forms).
        str_hyp: the predicted value.
        use_fuzzy_match: fuzzy token-sort ratio (True, SGD) or exact match.

    Returns:
        A score in [0, 1].
    """
    score = 0.0
    for str_ref in str_ref_list:
        match = fuzzy_string_match(str_ref, str_hyp) if use_fuzzy_match else float(str_ref == str_hyp)
        score = max(score, match)
    return score


def compare_slot_values(
    slot_values_ref: Mapping[str, Sequence[str]],
    slot_values_hyp: Mapping[str, Sequence[str]],
    service: Service,
    use_fuzzy_match: bool = True,
) -> tuple[list[float], list[bool], list[bool]]:
    """Score every slot of ``service`` in a predicted state against the reference.

    Args:
        slot_values_ref: slot -> values of the reference state.
        slot_values_hyp: slot -> values of the predicted state (the first is used).
        service: the frame's service (its slots, and which are categorical).
        use_fuzzy_match: fuzzy matching for free-text slots.

    Returns:
        ``(scores, active, categorical)``, one entry per slot of the service:
        the slot's correctness in [0, 1], whether the reference fills it, and
        whether it is categorical.
    """
    list_cor, slot_active, slot_cat = [], [], []
    for slot in service.slots:
        slot_cat.append(slot.is_categorical)
        if slot.name in slot_values_ref:
            slot_active.append(True)
            if slot.name in slot_values_hyp:
                value_ref_list = slot_values_ref[slot.name]
                value_hyp = slot_values_hyp[slot.name][0]
                if slot.is_categorical:
                    list_cor.append(float(value_ref_list[0] == value_hyp))
                else:
                    list_cor.append(noncat_slot_value_match(value_ref_list, value_hyp, use_fuzzy_match))
            else:
                list_cor.append(0.0)
        else:
            slot_active.append(False)
            list_cor.append(0.0 if slot.name in slot_values_hyp else 1.0)
    return list_cor, slot_active, slot_cat


def get_active_intent_accuracy(frame_ref: Mapping[str, Any], frame_hyp: Mapping[str, Any]) -> float:
    """1.0 when the predicted frame's active intent is the reference's, else 0.0."""
    return float(frame_ref["state"]["active_intent"] == frame_hyp["state"]["active_intent"])


def get_slot_tagging_f1(
    frame_ref: Mapping[str, Any], frame_hyp: Mapping[str, Any], utt: str, service: Service
) -> F1Scores | None:
    """F1 of the predicted free-text slot spans in the user utterance.

    Args:
        frame_ref: the reference frame (its ``slots`` spans).
        frame_hyp: the predicted frame.
        utt: the user utterance the spans index.
        service: the frame's service (which slots are free text).

    Returns:
        The scores, or None when the prediction has no ``slots`` field.
    """
    noncat = {s.name for s in service.slots if not s.is_categorical}
    if "slots" not in frame_hyp:
        return None
    list_ref = [(s["slot"], utt[s["start"]:s["exclusive_end"]]) for s in frame_ref["slots"] if s["slot"] in noncat]
    list_hyp = [(s["slot"], utt[s["start"]:s["exclusive_end"]]) for s in frame_hyp["slots"] if s["slot"] in noncat]
    return compute_f1(list_ref, list_hyp)


def get_requested_slots_f1(frame_ref: Mapping[str, Any], frame_hyp: Mapping[str, Any]) -> F1Scores:
    """F1 of the predicted requested slots against the reference's."""
    return compute_f1(frame_ref["state"]["requested_slots"], frame_hyp["state"]["requested_slots"])


def get_average_and_joint_goal_accuracy(
    frame_ref: Mapping[str, Any], frame_hyp: Mapping[str, Any], service: Service, use_fuzzy_match: bool = True
) -> dict[str, float | str]:
    """Average and joint goal accuracies of a frame (all, categorical, free-text slots).

    Args:
        frame_ref: the reference frame.
        frame_hyp: the predicted frame.
        service: the frame's service.
        use_fuzzy_match: fuzzy matching for free-text slots.

    Returns:
        metric name -> value, ``NAN_VAL`` where no slot of that kind applies.
    """
    list_acc, slot_active, slot_cat = compare_slot_values(
        frame_ref["state"]["slot_values"], frame_hyp["state"]["slot_values"], service, use_fuzzy_match
    )

    def mean(values):
        return float(np.mean(values)) if values else NAN_VAL

    def prod(values):
        return float(np.prod(values)) if values else NAN_VAL

    rows = list(zip(list_acc, slot_active, slot_cat))
    return {
        AVERAGE_GOAL_ACCURACY: mean([a for a, active, _ in rows if active]),
        AVERAGE_CAT_ACCURACY: mean([a for a, active, cat in rows if active and cat]),
        AVERAGE_NONCAT_ACCURACY: mean([a for a, active, cat in rows if active and not cat]),
        JOINT_GOAL_ACCURACY: prod(list_acc),
        JOINT_CAT_ACCURACY: prod([a for a, _, cat in rows if cat]),
        JOINT_NONCAT_ACCURACY: prod([a for a, _, cat in rows if not cat]),
    }
