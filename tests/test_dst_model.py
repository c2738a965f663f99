"""The dialogue state tracker model: training labels from SGD, `lepton-tf train dst`, the
exported `dst` servable (strings in, stock-TF-loadable, validated inputs) and the tracker on it."""

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from lepton_tf.cli import main
from lepton_tf.dialogue import DialogueState, load_schema
from lepton_tf.dialogue.model_tracker import ModelTracker, elements_of, request_rows
from lepton_tf.export.dst_servable import example_inputs
from lepton_tf.export.warmup import read_warmup_requests
from lepton_tf.models.dst import DSTPreprocessor, ServiceElements
from lepton_tf.models.dst.dst_heads import STATUS_ACTIVE, STATUS_NONE
from lepton_tf.tasks.dst_examples import ElementTable, build_arrays

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sgd" / "dst_sample"


def _sample():
    dialogues = json.loads(gzip.decompress((SAMPLE / "dialogues_001.json.gz").read_bytes()))
    schema = json.loads(gzip.decompress((SAMPLE / "schema.json.gz").read_bytes()))
    return dialogues, {s["service_name"]: ServiceElements.from_sgd(s) for s in schema}


def test_training_labels_follow_the_annotated_state():
    dialogues, services = _sample()
    table = ElementTable.of(services.values())
    pre = DSTPreprocessor(user_length=40, system_length=37)
    arrays = build_arrays(dialogues[:1], services, table, pre, max_intents=4, max_slots=20, max_values=12)
    first = dialogues[0]
    user_frames = [(t, f) for t in first["turns"] if t["speaker"] == "USER" for f in t["frames"]]
    assert len(arrays["intent"]) == len(user_frames)
    vocab = list(pre._vocab)
    seen_active = 0
    for i, (turn, frame) in enumerate(user_frames):
        service = services[frame["service"]]
        state = frame["state"]
        expected_intent = 0 if state["active_intent"] == "NONE" else service.intent_names.index(
            state["active_intent"]) + 1
        assert arrays["intent"][i] == expected_intent
        assert [service.slot_names[k] for k in np.nonzero(arrays["requested"][i])[0]] == sorted(
            state["requested_slots"], key=service.slot_names.index)
        for k, slot in enumerate(service.slot_names):
            now = state["slot_values"].get(slot)
            if not now:
                assert arrays["status"][i, k] == STATUS_NONE
            if arrays["status"][i, k] == STATUS_ACTIVE and arrays["span_start"][i, k] >= 0:
                # The labelled tokens spell the new value.
                ids = arrays["token_ids"][i, arrays["span_start"][i, k]:arrays["span_end"][i, k] + 1]
                spelled = " ".join(vocab[t] for t in ids).replace(" ##", "")
                assert spelled.replace(" ", "") in {v.lower().replace(" ", "") for v in now}, (spelled, now)
                seen_active += 1
    assert seen_active >= 2
    assert (arrays["slot_index"][0] >= 0).sum() == len(services[user_frames[0][1]["service"]].slot_names)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny tracker trained for two steps with `lepton-tf train dst --export`."""
    root = tmp_path_factory.mktemp("dst")
    config = {
        "name": "dst", "output_dir": str(root / "run"), "seed": 1, "epochs": 1, "steps_per_epoch": 2,
        "batch_size": 8, "learning_rate": 1e-3, "warmup_steps": 1, "backup_every_steps": 1,
        "model": {"backbone": "scratch", "bert_layers": 1, "bert_hidden": 16, "trainable_layers": 1,
                  "hidden_dim": 16, "user_length": 12, "system_length": 10, "schema_length": 8},
        "data": {"train": str(SAMPLE), "limit_dialogues": 4},
    }
    path = root / "dst.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", "dst", "--config", str(path), "--export", "--base-dir", str(root / "models")]) == 0
    return root


def test_train_writes_schema_cache_and_exports_a_tf_serving_version(trained):
    assert any(p.name.startswith("schema_embeddings_") for p in (trained / "run").iterdir())
    version = trained / "models" / "dst" / "1"
    assert (version / "saved_model.pb").is_file()
    warmup = read_warmup_requests(str(version))
    assert {w.predict_log.request.model_spec.signature_name for w in warmup} == {
        "serving_default", "track_turn", "track_turn_encoded", "encode_schema"}


@pytest.fixture(scope="module")
def loaded(trained):
    return tf.saved_model.load(str(trained / "models" / "dst" / "1"))


def test_servable_outputs_and_no_xla_ops(loaded):
    serve = loaded.signatures["serving_default"]
    inputs = example_inputs()
    out = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    assert out["intent_probabilities"].shape == (2, 3) and out["slot_value"].shape == (2, 2)
    np.testing.assert_allclose(out["intent_probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    assert set(out["active_intent"].numpy().tolist()) <= {-1, 0, 1}
    # A span is cut from the words said; padding slots never get a value.
    user, system = inputs["user_utterance"], inputs["system_utterance"]
    for row in range(2):
        for text in out["span_text"].numpy()[row]:
            assert text in user[row] or text in system[row]
    assert out["slot_value"].numpy()[1, 1] == b""
    graph = serve.graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert not [op for op in ops if op.startswith("Xla")]


@pytest.mark.parametrize("change, message", [
    (lambda x: {k: v[:0] for k, v in x.items()}, "got an empty batch"),
    (lambda x: {**x, "system_utterance": x["system_utterance"][:1]}, "system_utterance: needs one row"),
    (lambda x: {**x, "intents": np.array([[b"", b""], [b"Set a new alarm", b""]])}, "every row needs at least one"),
    (lambda x: {**x, "slot_values": x["slot_values"][:, :1]}, "slot_values: needs one row per slot"),
])
def test_servable_rejects_malformed_requests(loaded, change, message):
    inputs = change(example_inputs())
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in inputs.items()})


def test_servable_bounds_a_100kb_utterance(loaded):
    inputs = example_inputs()
    inputs["user_utterance"] = np.array([("Book a table " * 9000).encode()] * 2)
    serve = loaded.signatures["serving_default"]
    serve(**{k: tf.constant(v) for k, v in example_inputs().items()})
    start = time.perf_counter()
    out = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    assert time.perf_counter() - start < 5.0
    assert out["slot_value"].shape == (2, 2)


def test_model_tracker_on_the_servable(trained):
    schema = load_schema(SAMPLE / "schema.json.gz")
    tracker = ModelTracker.from_saved_model(str(trained / "models" / "dst" / "1"))
    rows = request_rows("hi", "", [elements_of(schema["Alarm_1"]), elements_of(schema["Weather_1"])])
    assert rows["slot_values"].shape[:2] == rows["slots"].shape == (2, 6)
    services = {"Weather_1": schema["Weather_1"], "Alarm_1": schema["Alarm_1"]}
    state = tracker.update(DialogueState(), "", "What's the weather in Paris on March 3rd?", services)
    for name, service in services.items():
        assert state.service(name).active_intent in {"NONE", *service.intent_names}
        assert set(state.service(name).slot_values) <= set(service.slot_names)
    # Cached schema vectors give what the all-strings signature computes itself.
    loaded = tf.saved_model.load(str(trained / "models" / "dst" / "1"))
    rows = request_rows("Book it for 2 in Paris", "Where?", [elements_of(schema["Weather_1"])])
    direct = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in rows.items()})
    cached = tracker.predict(tracker._with_vectors(dict(rows)))
    np.testing.assert_allclose(cached["status_probabilities"], direct["status_probabilities"].numpy(), atol=1e-5)
    assert len(tracker._vectors) > 0


def test_model_tracker_folds_updates_into_the_state():
    from lepton_tf.dialogue import ServiceState
    from lepton_tf.models.dst.dst_heads import STATUS_CARRYOVER, STATUS_DONTCARE

    schema = load_schema(SAMPLE / "schema.json.gz")
    weather = {"Weather_1": schema["Weather_1"]}
    names = schema["Weather_1"].slot_names
    city, date = names.index("city"), names.index("date")

    def outputs(status_by_slot, value_by_slot, intent=0):
        statuses = [status_by_slot.get(k, STATUS_NONE) for k in range(len(names))]
        values = [value_by_slot.get(k, "") for k in range(len(names))]
        return lambda inputs: {
            "active_intent": np.array([intent]), "requested_probabilities": np.array([[0.9] + [0.1] * (len(names) - 1)]),
            "slot_status": np.array([statuses]), "slot_value": np.array([[v.encode() for v in values]])}

    start = DialogueState().with_service("Restaurants_2", ServiceState("ReserveRestaurant", (), {
        "city": ("San Jose",)}))
    state = ModelTracker(outputs({city: STATUS_ACTIVE}, {city: "Paris"})).update(start, "", "x", weather)
    w = state.service("Weather_1")
    assert w.slot_values == {"city": ("Paris",)} and w.active_intent == schema["Weather_1"].intent_names[0]
    assert w.requested_slots == (names[0],)
    state = ModelTracker(outputs({date: STATUS_DONTCARE}, {})).update(state, "", "x", weather)
    assert state.service("Weather_1").slot_values == {"city": ("Paris",), "date": ("dontcare",)}  # city kept
    fresh = ModelTracker(outputs({city: STATUS_CARRYOVER}, {}, intent=-1)).update(start, "", "x", weather)
    assert fresh.service("Weather_1").slot_values == {"city": ("San Jose",)}  # from the restaurant
    assert fresh.service("Weather_1").active_intent == "NONE"
    assert fresh.service("Restaurants_2") == start.service("Restaurants_2")


def test_eval_dst_prints_the_model_beside_the_baseline(trained, capsys):
    assert main(["eval", "dst", "--data", str(SAMPLE), "--model", str(trained / "models" / "dst"),
                 "--limit", "2", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"string_match", "dst_model"}
    assert results["dst_model"]["#ALL_SERVICES"]["frames"] == results["string_match"]["#ALL_SERVICES"]["frames"] > 0


def test_lepton_server_answers_invalid_argument(trained):
    """Hosted by the server's SavedModel servable (the TF Serving path): bad requests are the client's."""
    import grpc

    from lepton_tf.server.errors import ServingError
    from lepton_tf.server.saved_model_servable import SavedModelServable

    servable = SavedModelServable(str(trained / "models" / "dst" / "1"), "dst")
    try:
        inputs = example_inputs()
        out = servable.run("serving_default", inputs)
        assert out["slot_value"].shape == (2, 2)
        for bad, message in (({k: v[:0] for k, v in inputs.items()}, "got an empty batch"),
                             ({**inputs, "intents": np.array([[b""], [b""]])}, "at least one intent")):
            with pytest.raises(ServingError) as error:
                servable.run("serving_default", bad)
            assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and message in error.value.message
        with pytest.raises(ServingError) as error:  # rank 1 where the signature says 2
            servable.run("serving_default", {**inputs, "intents": inputs["intents"][0]})
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "shape" in error.value.message
    finally:
        servable.close()


def test_the_hosted_tracker_encodes_each_schema_text_once(trained, monkeypatch):
    """`serve --assistant --task_tracker dst`: the server-side tracker keeps the schema's vectors."""
    from lepton_tf.assistant.tasks import hosted_tracker
    from lepton_tf.server import inference
    from lepton_tf.server.app import ModelServer, ServerOptions

    server = ModelServer(ServerOptions(model_name="dst", model_base_path=str(trained / "models" / "dst"), port=0,
                                       rest_api_port=0, file_system_poll_wait_seconds=0))
    server.start()
    try:
        calls = []
        run = inference.predict_arrays
        monkeypatch.setattr(inference, "predict_arrays",
                            lambda servable, name, *a, **k: calls.append(name) or run(servable, name, *a, **k))
        weather = {"Weather_1": load_schema(SAMPLE / "schema.json.gz")["Weather_1"]}
        turns = [("", "What's the weather in Paris?"), ("Anything else?", "And on March 3rd?")]
        states = {}
        for cache in (True, False):
            tracker, state = hosted_tracker(server.manager, "dst", cache_schema=cache), DialogueState()
            for system, user in turns:
                state = tracker.update(state, system, user, weather)
            states[cache] = state
        assert calls == ["encode_schema", "track_turn_encoded", "track_turn_encoded",
                         "serving_default", "serving_default"]
        assert states[True] == states[False]
    finally:
        server.stop()


def test_schema_vectors_are_kept_per_model_version():
    from lepton_tf.dialogue.schema_vectors import SchemaVectors

    encoded = []

    def encode(texts):
        encoded.append(sorted(texts.tolist()))
        return np.ones((len(texts), 3), np.float32)

    vectors = SchemaVectors()
    rows = request_rows("hi", "", [elements_of(load_schema(SAMPLE / "schema.json.gz")["Weather_1"])])
    vectors.add_to(dict(rows), encode, version=1)
    vectors.add_to(dict(rows), encode, version=1)
    assert len(encoded) == 1 and b"" in encoded[0]
    out = vectors.add_to(dict(rows), encode, version=2)  # a new model version: encoded again
    assert len(encoded) == 2 and out["slot_embeddings"].shape == rows["slots"].shape + (3,)
