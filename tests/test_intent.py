"""Intent: labeled-text reader, OOS threshold calibration, metrics, train -> export -> eval."""

import gzip
import json

import numpy as np
import pytest

from lepton_tf.data import DataFormatError, IntentExample
from lepton_tf.data.labeled_text import read_labeled_text
from lepton_tf.evaluation.intent import auroc, intent_metrics, macro_f1
from lepton_tf.export.intent_servable import calibrate_threshold, in_scope_scores
from lepton_tf.tasks.intent import choose_holdout_labels, stratified_split

WORDS = {"card": ["my card has not arrived", "where is my new card", "card still not here",
                  "when will the card come", "card delivery is late", "track my card"],
         "pin": ["i forgot my pin", "reset my pin please", "change the pin code",
                 "pin is blocked", "how to unblock my pin", "new pin number"],
         "refund": ["i want a refund", "refund my purchase", "money back please",
                    "where is my refund", "refund not received", "request a refund"]}


def _write(path, text, compress=False):
    data = text.encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def test_reads_csv_and_jsonl_with_aliases_and_gzip(tmp_path):
    csv_path = _write(tmp_path / "a.csv", 'id,Utterance,intent\n1,"hi, there",greet\n\n'
                                          '2,bye ,leave\n')
    assert read_labeled_text(csv_path) == [IntentExample("hi, there", "greet"),
                                           IntentExample("bye", "leave")]
    jsonl = _write(tmp_path / "b.jsonl.gz", '{"text": "hi", "label": "greet"}\n\n'
                                            '{"query": "bye", "category": 3}\n', compress=True)
    assert read_labeled_text(jsonl) == [IntentExample("hi", "greet"), IntentExample("bye", "3")]
    tsv = _write(tmp_path / "c.tsv", "text\tlabel\nhello\tgreet\n")
    assert read_labeled_text(tsv) == [IntentExample("hello", "greet")]


@pytest.mark.parametrize("name,content,line,match", [
    ("h.csv", "text,name\nhi,greet\n", 1, "no label column"),
    ("f.csv", "text,label\nhi,greet\nbye,leave,extra\n", 3, "expected 2 fields"),
    ("e.csv", 'text,label\nhi,greet\n"  ",greet\n', 3, "empty text"),
    ("j.jsonl", '{"text": "hi", "label": "a"}\n{"text": "hi", "label": \n', 2, "invalid JSON"),
    ("k.jsonl", '{"text": "hi", "label": "a"}\n\n{"text": "hi"}\n', 3, "no label"),
    ("l.jsonl", '{"text": ["hi"], "label": "a"}\n', 1, "text must be a string"),
    ("a.jsonl", '[1, 2]\n', 1, "expected a JSON object"),
])
def test_reader_errors_name_file_and_line(tmp_path, name, content, line, match):
    path = _write(tmp_path / name, content)
    with pytest.raises(DataFormatError, match=match) as info:
        read_labeled_text(path)
    assert info.value.path == path and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}:")


def test_reader_refuses_empty_files_and_unknown_suffixes(tmp_path):
    with pytest.raises(DataFormatError, match="no examples"):
        read_labeled_text(_write(tmp_path / "x.csv", "text,label\n"))
    with pytest.raises(DataFormatError, match="empty file"):
        read_labeled_text(_write(tmp_path / "y.csv", ""))
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_labeled_text(_write(tmp_path / "z.txt", "hi"))
    with pytest.raises(FileNotFoundError):
        read_labeled_text(str(tmp_path / "missing.csv"))


def test_threshold_accepts_the_chosen_fraction_of_in_scope_scores():
    scores = np.linspace(0.55, 1.0, 10)
    threshold = calibrate_threshold(scores, 0.8)
    assert threshold == pytest.approx(0.65)  # the 3rd smallest: 2 of 10 rejected
    assert np.mean(scores >= threshold) == 0.8
    assert calibrate_threshold(scores, 1.0) == pytest.approx(0.55)
    rng = np.random.RandomState(0)
    for accept in (0.5, 0.9, 0.95, 0.99):
        scores = rng.dirichlet(np.ones(5), size=400).max(axis=1)
        t = calibrate_threshold(scores, accept)
        assert np.mean(scores >= t) >= accept
        assert np.mean(scores >= np.min(scores[scores > t])) < accept  # the largest such
    with pytest.raises(ValueError):
        calibrate_threshold([], 0.9)
    with pytest.raises(ValueError):
        calibrate_threshold([0.5], 1.5)


def test_in_scope_scores_are_energy_or_max_probability():
    logits = np.array([[0.0, np.log(3.0)], [2.0, 2.0]])
    np.testing.assert_allclose(in_scope_scores(logits, "energy"), [np.log(4.0), 2 + np.log(2)])
    np.testing.assert_allclose(in_scope_scores(logits), in_scope_scores(logits, "energy"))
    np.testing.assert_allclose(in_scope_scores(logits, "msp"), [0.75, 0.5])
    with pytest.raises(ValueError, match="oos_score"):
        in_scope_scores(logits, "entropy")


def test_macro_f1_and_oos_metrics_by_hand():
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1, fn 0 -> 0.8; class 2: 0.
    assert macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 0]) == pytest.approx((0.5 + 0.8) / 3)
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0
    assert auroc([0.9, 0.8], [0.1, 0.8]) == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    result = intent_metrics(["a", "b"], ["a", "a", "b", "a"], ["a", "a", "b", "b"],
                            [0.9, 0.6, 0.8, 0.7], [False, True, False, False],
                            {"ood": ([0.5, 0.95], [True, False])})
    s = result["in_scope"]
    assert s["accuracy"] == 0.75 and s["accepted"] == 0.75 and s["in_scope_accuracy"] == 0.5
    assert result["oos"]["ood"]["recall"] == 0.5
    # in-scope scores 0.9, 0.6, 0.8, 0.7 each beat 0.5 and lose to 0.95: 4 of 8 pairs
    assert result["oos"]["ood"]["auroc"] == pytest.approx(0.5)


def test_split_is_stratified_and_holdout_is_seeded():
    examples = [IntentExample(t, label) for label, texts in WORDS.items() for t in texts]
    kept, held = stratified_split(examples, 0.34, seed=1)
    assert sorted(e.label for e in held) == ["card", "card", "pin", "pin", "refund", "refund"]
    assert set(kept).isdisjoint(held) and len(kept) + len(held) == len(examples)
    assert stratified_split(examples, 0.34, seed=1) == (kept, held)
    labels = sorted(WORDS)
    assert choose_holdout_labels(labels, 1, 3) == choose_holdout_labels(labels, 1, 3)
    assert choose_holdout_labels(labels, ["pin"], 0) == ["pin"]
    with pytest.raises(ValueError):
        choose_holdout_labels(labels, 2, 0)


def test_bert_intent_classifier_round_trips_its_config():
    import keras

    from lepton_tf.models.intent import BertIntentClassifier, build_intent_model
    model = build_intent_model({"backbone": "bert", "sequence_length": 8, "num_layers": 1,
                                "hidden_dim": 16, "num_heads": 2, "head_lr_multiplier": 5.0},
                               vocabulary_size=50, num_classes=3)
    inputs = {"token_ids": np.ones((2, 8), "int32"), "padding_mask": np.ones((2, 8), bool)}
    clone = BertIntentClassifier.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(inputs), model(inputs), atol=1e-6)
    assert model(inputs).shape == (2, 3) and isinstance(model, keras.Model)
    with pytest.raises(ValueError, match="backbone"):
        build_intent_model({"backbone": "gpt"}, 50, 3)


def test_train_export_and_eval_on_own_csv(tmp_path):
    """`lepton-tf train intent --export` on a user CSV, then `lepton-tf eval intent`."""
    import yaml

    from lepton_tf.cli import main
    from lepton_tf.tasks.registry import train
    from lepton_tf.evaluation.intent import evaluate_intent

    rows = [{"text": t, "label": label} for label, texts in WORDS.items() for t in texts]
    train_csv = tmp_path / "train.csv"
    train_csv.write_text("text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows))
    test_jsonl = tmp_path / "test.jsonl"
    test_jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows[::2]) +
                          json.dumps({"text": "what is the weather", "label": "weather"}) + "\n")
    config = {"name": "intent", "output_dir": str(tmp_path / "run"), "seed": 1, "epochs": 1,
              "steps_per_epoch": 3, "batch_size": 4, "learning_rate": 0.01,
              "model": {"sequence_length": 8, "hidden_dim": 8, "intermediate_dim": 16,
                        "num_layers": 1, "num_heads": 1},
              "data": {"train": str(train_csv), "calibration_fraction": 0.34,
                       "accept_fraction": 0.5}}
    config_path = tmp_path / "intent.yaml"
    config_path.write_text(yaml.safe_dump(config))
    path = train("intent", config_path=str(config_path), base_dir=str(tmp_path / "models"),
                 export=True)

    import tensorflow as tf
    loaded = tf.saved_model.load(path)
    threshold = float(loaded.oos_threshold.numpy())
    texts = [r["text"] for r in rows]
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    assert [x.decode() for x in out["labels"].numpy()[0]] == ["card", "pin", "refund"]
    flags, scores = out["out_of_scope"].numpy(), out["in_scope_score"].numpy()
    assert loaded.oos_score_kind.numpy() == b"energy"
    np.testing.assert_array_equal(flags, scores < threshold)
    assert flags.any() and not flags.all()  # the threshold rejects some texts, not all

    result = evaluate_intent(path, str(test_jsonl), oos_sources=[str(test_jsonl)])
    assert result["in_scope"]["examples"] == 9
    assert result["oos"]["held-out intents (test)"]["examples"] == 1
    assert result["threshold"] == pytest.approx(threshold)
    assert main(["eval", "intent", "--model", path, "--test", str(test_jsonl), "--oos",
                 "--json"]) == 0
