"""A not-found rule for an index without questions, fitted on its own pseudo-queries.

The default rule, top-1 cosine below 0.626, was fitted on StackFAQ's real
held-out questions (90% of the questions it cannot answer flagged, at 16.8%
of those it can). Cosine scales differ between corpora (a folder of
technical READMEs scores its answerable questions lower than a FAQ), so the
same number flags many answerable questions elsewhere. Self-tuning already
asks every new index its own pseudo-queries (a piece cut out of a passage,
searched against the index without it: `index.fusion_selftune`); their top-1
cosines place the StackFAQ operating point on this corpus's own scale: the
threshold is the quantile of this index's pseudo-query top-1 cosines at
which StackFAQ's operating point sits among StackFAQ's pseudo-queries
(`bench/not_found_pseudo_threshold.py` measures it). It never rises above the default
threshold: a fit only loosens the rule where the corpus scores lower.

The operating point carried is looser than StackFAQ's own: 10% of the
answerable questions flagged, not 16.8%. A folder has no known questions to
catch what its cosines miss, and a question a person asks of their own
documents is mostly answerable there; the price on StackFAQ is 82.4% instead
of 90.1% of the questions without their thread flagged.
"""

from __future__ import annotations

import numpy as np

from lepton_tf.index.not_found_rule import DEFAULT_NOT_FOUND_THRESHOLD, NotFoundRule, threshold_rule

# `python bench/not_found_pseudo_threshold.py --false-flags 0.10` (StackFAQ, zero-shot
# all-MiniLM-L6-v2; 125 self-tuning pseudo-queries, title recipe, seed 0): top-1 < 0.5891
# flags 10% of its 375 real test questions and 82.4% of them with their thread left out;
# 9.6% of the pseudo-queries are below it. (At 0.626: 20.0% of the pseudo-queries, 16.8% of
# the real questions, 90.1% left out: the pseudo-queries stand in for the real questions.)
STACKFAQ_PSEUDO_QUANTILE = 0.096
CARRIED_FALSE_FLAGS = 0.10
MIN_PSEUDO_QUERIES = 50  # fewer: the quantile is noise, the default rule stays


def fit_threshold(pseudo_top1, quantile: float = STACKFAQ_PSEUDO_QUANTILE,
                  default: float = DEFAULT_NOT_FOUND_THRESHOLD) -> NotFoundRule | None:
    """The threshold rule at `quantile` of the pseudo-queries' top-1 cosines.

    Args:
        pseudo_top1: each pseudo-query's best cosine in the held-out index.
        quantile: where the carried operating point sits on StackFAQ's pseudo-queries.
        default: the threshold never exceeded.

    Returns:
        The rule (its `fitted_on` names the evidence), or None when there are
        fewer than `MIN_PSEUDO_QUERIES` pseudo-queries.
    """
    top1 = np.asarray(pseudo_top1, np.float64)
    if top1.size < MIN_PSEUDO_QUERIES:
        return None
    threshold = min(default, float(np.quantile(top1, quantile)))
    rule = threshold_rule(round(threshold, 4))
    return NotFoundRule(rule.features, rule.weights, rule.mean, rule.scale, rule.bias, rule.cut,
                        {"rule": f"top1 < {threshold:.4f}",
                         "fitted": f"self-fitted: the {100 * quantile:.1f}% quantile of "
                                   f"{top1.size} pseudo-queries' top-1 cosines (StackFAQ's "
                                   f"operating point at {100 * CARRIED_FALSE_FLAGS:.0f}% of "
                                   f"answerable questions flagged, carried by quantile), at "
                                   f"most {default}"})
