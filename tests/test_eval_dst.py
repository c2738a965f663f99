"""`lepton-tf eval dst` end to end on real SGD dialogues: the baseline and an oracle side by side."""

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest

from lepton_tf.cli import main
from lepton_tf.dialogue import DialogueState, load_schema
from lepton_tf.dialogue.string_match_tracker import StringMatchTracker

DATA = Path(__file__).resolve().parents[1] / "data" / "sgd"
SAMPLE = DATA / "dst_sample"


def _sgd_dialogues():
    """Real SGD test dialogues with every annotation (the vendored sample), first two."""
    return json.loads(gzip.decompress((SAMPLE / "dialogues_001.json.gz").read_bytes()))[:2]


@pytest.fixture
def sgd_folder(tmp_path):
    folder = tmp_path / "test"
    folder.mkdir()
    shutil.copy(DATA / "schema_test.json.gz", folder / "schema.json.gz")
    (folder / "dialogues_001.json").write_text(json.dumps(_sgd_dialogues()))
    return folder


def test_eval_dst_scores_baseline_and_oracle_predictions(sgd_folder, tmp_path, capsys):
    oracle = tmp_path / "oracle"
    oracle.mkdir()
    shutil.copy(sgd_folder / "dialogues_001.json", oracle / "dialogues_001.json")
    rc = main(["eval", "dst", "--data", str(sgd_folder), "--train-schema", str(DATA / "schema_train.json.gz"),
               "--predictions", str(oracle), "--json"])
    assert rc == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"string_match", f"predictions:{oracle}"}
    frames = sum(len(t["frames"]) for d in _sgd_dialogues() for t in d["turns"] if t["speaker"] == "USER")
    perfect = results[f"predictions:{oracle}"]["#ALL_SERVICES"]
    assert perfect["frames"] == frames
    for metric in ("joint_goal_accuracy", "average_goal_accuracy", "active_intent_accuracy", "requested_slots_f1"):
        assert perfect[metric] == 1.0
    baseline = results["string_match"]["#ALL_SERVICES"]
    assert baseline["frames"] == frames and baseline["joint_goal_accuracy"] < 1.0
    seen = {s["service_name"] for s in json.loads(gzip.decompress((DATA / "schema_train.json.gz").read_bytes()))}
    for name, value in results["string_match"].items():
        if "_" in name and not name.startswith("#"):
            bucket = "#SEEN_SERVICES" if name in seen else "#UNSEEN_SERVICES"
            assert bucket in results["string_match"]

    assert main(["eval", "dst", "--data", str(sgd_folder), "--predictions", str(oracle)]) == 0
    table = capsys.readouterr().out
    assert "string_match" in table and "#ALL_SERVICES" in table and "JGA" in table


def test_eval_dst_unknown_service_is_one_line_error(sgd_folder, capsys):
    dialogues = _sgd_dialogues()
    dialogues[0]["turns"][0]["frames"][0]["service"] = "Teleport_1"
    (sgd_folder / "dialogues_001.json").write_text(json.dumps(dialogues))
    assert main(["eval", "dst", "--data", str(sgd_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "service 'Teleport_1' is not in the schema" in err


def test_eval_dst_malformed_dialogue_names_file_and_field(sgd_folder, capsys):
    dialogues = _sgd_dialogues()
    del dialogues[1]["turns"][2]["frames"][0]["state"]["slot_values"]
    (sgd_folder / "dialogues_001.json").write_text(json.dumps(dialogues))
    assert main(["eval", "dst", "--data", str(sgd_folder)]) == 2
    err = capsys.readouterr().err
    assert "dialogues_001.json" in err and "turn 2 frame 0.state: missing field 'slot_values'" in err


def test_baseline_bounded_on_a_100kb_utterance():
    schema = load_schema(DATA / "schema_test.json.gz")
    huge = "Book a table for two in San Jose " + "and also " * 12000
    assert len(huge) > 100_000
    start = time.perf_counter()
    state = StringMatchTracker().update(DialogueState(), "", huge, {"Restaurants_2": schema["Restaurants_2"]})
    assert time.perf_counter() - start < 2.0
    assert state.service("Restaurants_2").active_intent == "ReserveRestaurant"


def test_eval_dst_every_nth_dialogue(sgd_folder, capsys):
    dialogues = json.loads(gzip.decompress((SAMPLE / "dialogues_001.json.gz").read_bytes()))
    (sgd_folder / "dialogues_001.json").write_text(json.dumps(dialogues))
    assert main(["eval", "dst", "--data", str(sgd_folder), "--every", "3", "--json"]) == 0
    frames = sum(len(t["frames"]) for d in dialogues[::3] for t in d["turns"] if t["speaker"] == "USER")
    assert json.loads(capsys.readouterr().out)["string_match"]["#ALL_SERVICES"]["frames"] == frames
    assert main(["eval", "dst", "--data", str(sgd_folder), "--every", "0"]) == 2
    assert "--every must be at least 1" in capsys.readouterr().err
