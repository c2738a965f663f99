"""What makes the state tracker learn on a CPU budget: the heads' own learning rate, the
rare slot statuses weighted, batches cut to their longest turn; and the small weights file
the package ships, rebuilt onto all-MiniLM-L6-v2 without training."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.models.dst import DSTPreprocessor, ServiceElements
from lepton_tf.tasks.dst import DSTModelSection, DSTTask, dummy_features, load_split, to_model_inputs
from lepton_tf.tasks.dst_examples import ElementTable, build_arrays
from lepton_tf.training.config import TrainConfig
from lepton_tf.training.scaled_adamw import ScaledAdamW

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sgd" / "dst_sample"


def test_scaled_adamw_gives_the_heads_a_larger_step():
    """Scaling the gradient cannot do this: Adam's step ignores the gradient's scale."""
    import keras

    head = keras.Variable(np.zeros(3, np.float32), name="kernel")
    encoder = keras.Variable(np.zeros(3, np.float32), name="kernel")
    # Paths are what the model gives its variables; set them as a built model would.
    head._path, encoder._path = "dst/schema_heads/intent_proj/kernel", "dst/bert/layer_5/kernel"
    optimizer = ScaledAdamW({"schema_heads/": 10.0}, learning_rate=1e-3)
    optimizer.build([head, encoder])
    grads = [tf.ones(3), tf.ones(3)]
    optimizer.apply(grads, [head, encoder])
    step_head, step_encoder = -float(head.numpy()[0]), -float(encoder.numpy()[0])
    assert step_encoder > 0 and step_head == pytest.approx(10 * step_encoder, rel=1e-4)
    assert ScaledAdamW.from_config(optimizer.get_config()).learning_rate_multipliers == {"schema_heads/": 10.0}


def _task(**model) -> DSTTask:
    config = TrainConfig.from_dict({"name": "dst", "model": {
        "backbone": "scratch", "bert_layers": 1, "bert_hidden": 16, "trainable_layers": 1, "hidden_dim": 16,
        "user_length": 12, "system_length": 10, "schema_length": 8, **model}})
    task = DSTTask(config)
    task.build_model(config)
    return task


def test_status_weights_scale_each_status_loss():
    """A rare status (active: a new value) costs its weight times what "none" costs."""
    section = DSTModelSection(bert_hidden=16)
    x = dummy_features(section, 4, 16, batch=1)
    x["slot_mask"] = np.array([[True] + [False] * (section.max_slots - 1)])
    logits = np.zeros((1, section.max_slots, 4), np.float32)
    y_pred = {"intent_logits": np.zeros((1, 1 + section.max_intents), np.float32),
              "requested_logits": np.zeros((1, section.max_slots), np.float32), "status_logits": logits,
              "value_logits": np.zeros((1, section.max_slots, section.max_values), np.float32),
              "span_start_logits": np.zeros((1, section.max_slots, 4), np.float32),
              "span_end_logits": np.zeros((1, section.max_slots, 4), np.float32)}

    def status_loss(weights, status):
        model = _task(status_weights=weights).model
        y = {"intent": np.zeros(1, np.int32), "requested": np.zeros((1, section.max_slots), np.int32),
             "status": np.full((1, section.max_slots), status, np.int32),
             "value": np.full((1, section.max_slots), -1, np.int32),
             "span_start": np.full((1, section.max_slots), -1, np.int32),
             "span_end": np.full((1, section.max_slots), -1, np.int32)}
        model.compute_loss(x, y, y_pred)
        return float(model.loss_trackers["status_loss"].result())

    assert status_loss((1, 3, 2, 3), 2) == pytest.approx(2 * status_loss((1, 3, 2, 3), 0), rel=1e-5)
    assert status_loss((1, 1, 1, 1), 2) == pytest.approx(status_loss((1, 1, 1, 1), 0), rel=1e-5)
    with pytest.raises(ValueError, match="status_weights"):
        _task(status_weights=(1, 2))


def test_batches_are_cut_to_their_longest_turn():
    dialogues = json.loads(gzip.decompress((SAMPLE / "dialogues_001.json.gz").read_bytes()))
    schema = json.loads(gzip.decompress((SAMPLE / "schema.json.gz").read_bytes()))
    services = {s["service_name"]: ServiceElements.from_sgd(s) for s in schema}
    table = ElementTable.of(services.values())
    pre = DSTPreprocessor(user_length=40, system_length=37)
    arrays = build_arrays(dialogues[:2], services, table, pre, max_intents=4, max_slots=20, max_values=12)
    batch = {k: tf.constant(v[:8]) for k, v in arrays.items()}
    features, labels = to_model_inputs(batch, tf.zeros((len(table.texts) + 1, 16)))
    longest = int(arrays["padding_mask"][:8].sum(1).max())
    assert longest < pre.sequence_length
    assert features["token_ids"].shape[1] == features["span_mask"].shape[1] == longest
    np.testing.assert_array_equal(features["token_ids"], arrays["token_ids"][:8, :longest])
    assert int(tf.reduce_max(labels["span_end"])) < longest


def test_every_nth_dialogue_of_a_split():
    all_dialogues, _ = load_split(str(SAMPLE), None)
    every, _ = load_split(str(SAMPLE), None, every=2)
    assert [d["dialogue_id"] for d in every] == [d["dialogue_id"] for d in all_dialogues[::2]]
    assert len(load_split(str(SAMPLE), 2, every=2)[0]) == 2
    with pytest.raises(ValueError, match="at least 1"):
        load_split(str(SAMPLE), None, every=0)


def test_hybrid_takes_intents_from_one_tracker_and_each_slot_from_the_first_to_change_it():
    from lepton_tf.dialogue import DialogueState, ServiceState, load_schema
    from lepton_tf.dialogue.hybrid_tracker import HybridTracker

    schema = load_schema(SAMPLE / "schema.json.gz")
    weather = {"Weather_1": schema["Weather_1"]}

    class Fixed:
        """A tracker that sets the given intent, requested slots and values."""

        def __init__(self, intent, requested, values):
            self.intent, self.requested, self.values = intent, requested, values

        def update(self, state, system, user, schemas):
            old = state.service("Weather_1")
            return state.with_service("Weather_1", ServiceState(
                self.intent, self.requested, {**old.slot_values, **self.values}))

    start = DialogueState().with_service("Weather_1", ServiceState("NONE", (), {"city": ("Paris",)}))
    model = Fixed("GetWeather", ("humidity",), {"city": ("Paris",), "date": ("tomorrow",)})
    matcher = Fixed("NONE", (), {"city": ("London",), "date": ("today",)})
    state = HybridTracker(model, [model, matcher]).update(start, "", "x", weather).service("Weather_1")
    # The model changed only the date; the city the model kept is the matcher's change.
    assert state.active_intent == "GetWeather" and state.requested_slots == ("humidity",)
    assert state.slot_values == {"city": ("London",), "date": ("tomorrow",)}
    state = HybridTracker(model, [matcher, model]).update(start, "", "x", weather).service("Weather_1")
    assert state.slot_values == {"city": ("London",), "date": ("today",)}
    unchanged = Fixed("NONE", (), {})
    state = HybridTracker(unchanged, [unchanged]).update(start, "", "x", weather).service("Weather_1")
    assert state.slot_values == {"city": ("Paris",)}


def test_trained_weights_file_rebuilds_the_same_tracker(tmp_path):
    """Only the trained variables are written (float16); the rest is all-MiniLM-L6-v2."""
    from lepton_tf.tasks.dst_weights import load_tracker, read_meta, save_tracker_weights

    config = TrainConfig.from_dict({"name": "dst", "model": {
        "trainable_layers": 1, "hidden_dim": 16, "user_length": 12, "system_length": 10, "schema_length": 8,
        "status_weights": [1, 3, 2, 3]}})
    task = DSTTask(config)
    model = task.build_model(config)
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:  # as if trained
        v.assign(v.numpy() + rng.normal(0, 0.02, v.shape).astype(np.float32))
    path = save_tracker_weights(model, task.section, str(tmp_path / "w.npz"), made_by="lepton-tf test")
    meta = read_meta(path)
    assert meta["made_by"] == "lepton-tf test" and meta["model"]["trainable_layers"] == 1
    every = sum(int(np.prod(v.shape)) for v in model.weights)
    trained = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert trained < every / 4 and Path(path).stat().st_size < 2.2 * trained
    rebuilt, pre = load_tracker(path)
    x = dummy_features(task.section, pre.sequence_length, 384, batch=2)
    x["token_ids"] = rng.integers(1000, 2000, x["token_ids"].shape).astype(np.int32)
    x["padding_mask"] = np.ones_like(x["padding_mask"])
    x["intents"] = rng.normal(size=x["intents"].shape).astype(np.float32)
    want, got = model(x, training=False), rebuilt(x, training=False)
    np.testing.assert_allclose(got["status_logits"], want["status_logits"], atol=0.05)
    np.testing.assert_allclose(got["intent_logits"], want["intent_logits"], atol=0.05)
    (tmp_path / "bad.npz").write_bytes(Path(path).read_bytes())
    with np.load(path) as data:
        arrays = dict(data)
    arrays["v0000"] = arrays["v0000"][:1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="shape"):
        load_tracker(str(tmp_path / "bad.npz"))
