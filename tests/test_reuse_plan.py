"""One rule for what a new index version reuses of the previous one, followed
by the folder build in process, the Beam build and updates alike."""

import dataclasses
import os

import pytest
from corpus_files import CountingEncoder, HashHandler, stand_in_encoder

from lepton_tf.index import load_index
from lepton_tf.index.folder_build import build_folder_index
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.permissions import ACL_FILE, AclRules
from lepton_tf.index.reuse_plan import ReusePlan
from lepton_tf.ingest import ChunkConfig

ACL = """
"public/**": ["*"]
"board/*.md": [board]
"""
FIXED = FusionConfig(dense_weight=0.3, tuned_on="fixed (--dense-weight)")
QUIET = {"progress": False, "log": lambda message: None}


def _folder(root):
    for rel, text in {"public/hours.md": "# Hours\n\nThe office opens at nine.",
                      "public/parking.md": "# Parking\n\nPark in the north garage.",
                      "board/merger.md": "# Merger\n\nThe falconcorp merger closes in March."
                      }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _add_minutes(root):
    (root / "board" / "minutes.md").write_text("# Minutes\n\nThe board met on Monday.")


def test_the_plan_of_a_folder_version(tmp_path):
    root, out = _folder(tmp_path / "kb"), str(tmp_path / "idx")
    encoder = CountingEncoder()
    chunking = ChunkConfig(64, 8)
    assert not ReusePlan.decide(out, encoder.info, chunking=chunking.to_dict()).passages
    build_folder_index(str(root), out, encoder, config=chunking, fusion=FIXED,
                       acl=AclRules.parse(ACL), **QUIET)
    plan = ReusePlan.decide(out, encoder.info, chunking=chunking.to_dict(), log=print)
    assert plan.passages and plan.keep_fusion and plan.keep_rule and plan.reason == ""
    assert plan.parts.fusion == FIXED and plan.acl.text == AclRules.parse(ACL).text
    assert sorted(plan.parts.ingest.files) == ["board/merger.md", "public/hours.md",
                                               "public/parking.md"]
    retune = ReusePlan.decide(out, encoder.info, retune=True)
    assert retune.passages and not retune.keep_fusion and retune.keep_rule
    for kwargs, reason in (({"chunking": ChunkConfig(32, 8).to_dict()}, "chunking changed"),
                           ({"chunking": chunking.to_dict(), "num_shards": 2},
                            "it is not sharded")):
        other = ReusePlan.decide(out, encoder.info, log=lambda m: None, **kwargs)
        assert not other.passages and not other.keep_fusion and reason in other.reason
        assert other.acl is not None  # the permissions outlive a rebuild
    stranger = dataclasses.replace(encoder.info, fingerprint="another-model")
    assert not ReusePlan.decide(out, stranger, log=lambda m: None).passages
    rebuild = ReusePlan.decide(out, encoder.info, rebuild=True)
    assert not (rebuild.passages or rebuild.keep_fusion or rebuild.keep_rule)
    assert rebuild.reason == "rebuild" and rebuild.acl is not None
    assert ReusePlan.decide(str(tmp_path / "none"), encoder.info) == ReusePlan()


def test_a_retune_keeps_the_permissions_and_the_folder_stays_incremental(tmp_path, monkeypatch):
    from lepton_tf.index.update import update_index

    encoder = CountingEncoder()
    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder", lambda path: encoder)
    root, out = _folder(tmp_path / "kb"), str(tmp_path / "idx")
    build_folder_index(str(root), out, encoder, fusion=FIXED, acl=AclRules.parse(ACL), **QUIET)
    _add_minutes(root)
    report = build_folder_index(str(root), out, encoder, **QUIET)  # no --acl, no weight
    assert report.incremental and report.encoded == 1
    index = load_index(out)
    assert index.documents["board/minutes.md#0"].readers == ("board",)
    assert index.fusion == FIXED
    path = update_index(out, "", retune=True, log=lambda m: None)
    assert os.path.exists(os.path.join(path, ACL_FILE))  # the rules stay with the version
    assert load_index(out).fusion.tuned_on.startswith("self-tuned")
    (root / "public" / "hours.md").write_text("# Hours\n\nThe office opens at ten.")
    report = build_folder_index(str(root), out, encoder, **QUIET)
    assert report.incremental and report.encoded == 1
    assert load_index(out).documents["board/minutes.md#0"].readers == ("board",)
    report = build_folder_index(str(root), out, encoder, rebuild=True, **QUIET)
    assert not report.incremental  # re-encoded, but who may read what stays
    assert load_index(out).documents["board/minutes.md#0"].readers == ("board",)


def test_the_beam_build_reuses_what_the_in_process_build_reuses(tmp_path):
    pytest.importorskip("apache_beam")
    from lepton_tf.index.sharded_storage import load_sharded
    from lepton_tf.pipelines.index_pipeline import run_index_pipeline

    encoder = stand_in_encoder(tmp_path / "encoder")
    root, out = _folder(tmp_path / "kb"), str(tmp_path / "idx")
    run_index_pipeline(str(root), encoder, out, runner="direct", num_shards=2,
                       handler=HashHandler(encoder), fusion=FIXED, acl=AclRules.parse(ACL))
    _add_minutes(root)
    # No --acl and no weight: the previous version's, as in process (the encoder is a
    # stand-in that cannot embed a query, so self-tuning would fail).
    second = run_index_pipeline(str(root), encoder, out, runner="direct", num_shards=2,
                                handler=HashHandler(encoder))
    assert second.endswith("/2") and os.path.exists(os.path.join(second, ACL_FILE))
    index = load_sharded(second)
    assert index.documents["board/minutes.md#0"].readers == ("board",)
    assert [s.fusion for s in index.shards] == [FIXED, FIXED]


def test_learned_questions_keep_the_folder_incremental_and_its_permissions(tmp_path):
    from lepton_tf.index.learned_questions import learn_questions

    encoder = CountingEncoder()
    root, out = _folder(tmp_path / "kb"), str(tmp_path / "idx")
    build_folder_index(str(root), out, encoder, acl=AclRules.parse(ACL), **QUIET)
    result = learn_questions(out, encoder, [("when does the office open", "public/hours.md#0")],
                             log=lambda m: None)
    for part in (ACL_FILE, "ingest.json"):  # the same passages: both still describe them
        assert os.path.exists(os.path.join(result["version"], part))
    _add_minutes(root)
    report = build_folder_index(str(root), out, encoder, **QUIET)
    assert report.incremental and report.encoded == 1
    index = load_index(out)
    assert index.documents["public/hours.md#0"].questions == ("when does the office open",)
    assert index.documents["board/minutes.md#0"].readers == ("board",)
    assert "when does the office open" in index.known_questions.texts


def test_an_edited_file_re_encodes_only_its_changed_passages(tmp_path):
    import numpy as np

    encoder = CountingEncoder()
    root, out = tmp_path / "kb", str(tmp_path / "idx")
    root.mkdir()
    sections = ["# Hours\n\nThe office opens at nine.", "# Parking\n\nPark in the north garage.",
                "# Lunch\n\nThe canteen serves lunch at noon."]
    (root / "guide.md").write_text("\n\n".join(sections) + "\n")
    (root / "faq.md").write_text("# Wifi\n\nThe password is on the fridge.\n")
    first = build_folder_index(str(root), out, encoder, self_tune=False, **QUIET)
    assert first.encoded == 4
    before = load_index(first.path)
    (root / "guide.md").write_text("\n\n".join(sections[:2] + [
        "# Lunch\n\nThe canteen serves lunch at one."]) + "\n")
    encoder.encoded.clear()
    second = build_folder_index(str(root), out, encoder, **QUIET)
    assert second.changed == ["guide.md"] and second.encoded == 1
    assert encoder.encoded == ["Lunch\nThe canteen serves lunch at one."]
    after = load_index(second.path)
    assert "at one" in after.documents["guide.md#2"].text
    for doc_id in ("guide.md#0", "guide.md#1"):  # the untouched sections' vectors, as stored
        np.testing.assert_array_equal(after.embeddings[after.row_of()[doc_id]],
                                      before.embeddings[before.row_of()[doc_id]])
    assert after.fusion == before.fusion and second.acl_changed == 0


def test_retune_with_a_runner_is_refused_not_ignored(tmp_path, capsys):
    from lepton_tf.cli import main

    root = _folder(tmp_path / "kb")
    assert main(["index", "--corpus", str(root), "--runner", "direct", "--retune",
                 "--out", str(tmp_path / "idx")]) == 2
    assert "--add/--delete/--retune update the latest version in process" \
        in capsys.readouterr().err
    assert not (tmp_path / "idx").exists()
