"""An index without questions fits its not-found threshold on its own pseudo-queries."""

import json

import numpy as np
import pytest

from lepton_tf.index.not_found_rule import DEFAULT_NOT_FOUND_THRESHOLD
from lepton_tf.index.not_found_pseudo_threshold import MIN_PSEUDO_QUERIES, fit_threshold


def test_threshold_is_the_stackfaq_quantile_of_this_corpus_and_never_above_the_default():
    low = np.linspace(0.30, 0.70, 101)  # a corpus that scores lower than StackFAQ
    rule = fit_threshold(low, quantile=0.2)
    assert rule.flags({"top1": 0.37}) and not rule.flags({"top1": 0.39})
    assert rule.fitted_on["rule"] == "top1 < 0.3800"
    high = np.linspace(0.70, 0.95, 101)  # scores higher: the default stays the cap
    assert fit_threshold(high, quantile=0.2).fitted_on["rule"] == \
        f"top1 < {DEFAULT_NOT_FOUND_THRESHOLD:.4f}"
    assert fit_threshold(low[:MIN_PSEUDO_QUERIES - 1]) is None


def test_folder_index_writes_its_self_fitted_rule(tmp_path):
    from corpus_files import CountingEncoder
    from lepton_tf.index.folder_build import build_folder_index
    from lepton_tf.index.not_found_rule import load_rule
    from lepton_tf.index.storage import resolve_index_dir

    docs = tmp_path / "docs"
    docs.mkdir()
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    for i in range(64):
        topic = f"{words[i % 8]} {words[(i // 8) % 8]} {i}"
        (docs / f"page{i}.md").write_text(
            f"# Topic {topic}\n\nThe {topic} notes say that item {i} is stored in room {i % 7} "
            f"and is checked every {i % 5 + 1} days by the {words[(i + 3) % 8]} team.\n")
    lines = []
    build_folder_index(str(docs), str(tmp_path / "index"), CountingEncoder(), progress=False,
                       log=lines.append)
    rule_line = [line for line in lines if line.startswith("not-found: top1 < ")]
    assert rule_line and "quantile of" in rule_line[0], lines
    rule = load_rule(resolve_index_dir(str(tmp_path / "index")))
    assert rule.fitted_on["fitted"].startswith("self-fitted")
    threshold = float(rule.fitted_on["rule"].split("<")[1])
    assert threshold <= DEFAULT_NOT_FOUND_THRESHOLD
    # an incremental update keeps the rule
    (docs / "page0.md").write_text("# Topic changed\n\nA changed page about the zulu team.\n")
    build_folder_index(str(docs), str(tmp_path / "index"), CountingEncoder(), progress=False,
                       log=lines.append)
    assert load_rule(resolve_index_dir(str(tmp_path / "index"))).fitted_on == rule.fitted_on


def test_self_tuning_re_encodes_a_sample_not_the_folder(tmp_path):
    from corpus_files import CountingEncoder
    from lepton_tf.index.folder_build import build_folder_index

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        (docs / f"guide{i}.md").write_text("# Guide\n\n" + "".join(
            f"## Part {j}\n\nStep {j} of guide {i} explains setting {i * j} for the device.\n\n"
            for j in range(3)))
    encoder = CountingEncoder()
    report = build_folder_index(str(docs), str(tmp_path / "index"), encoder, progress=False,
                                log=lambda _: None, tune_sample=30)
    assert report.passages == 120
    assert len(encoder.encoded) <= report.passages + 30  # one pass, and the sample


def test_the_carried_operating_point_flags_a_tenth_of_answerable_questions():
    """By default a folder carries StackFAQ's point at 10% of its answerable
    questions flagged (9.6% of its pseudo-queries), not its 0.626 threshold's
    16.8% (20% of the pseudo-queries): 16-22% of the real-docs questions were
    flagged though every answer was in the folder."""
    rule = fit_threshold(np.linspace(0.30, 0.70, 101))
    assert rule.fitted_on["rule"] == "top1 < 0.3384"
    assert "10% of answerable questions flagged" in rule.fitted_on["fitted"]
