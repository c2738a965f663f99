"""The default intent recipe: a head on frozen encoder embeddings, one SavedModel."""

import os

import numpy as np
import pytest
import yaml

from lepton_tf.models.embedding_intent import centroid_scores, class_centroids

WORDS = {"card": ["my card has not arrived", "where is my new card", "card still not here",
                  "when will the card come", "card delivery is late", "track my card"],
         "pin": ["i forgot my pin", "reset my pin please", "change the pin code",
                 "pin is blocked", "how to unblock my pin", "new pin number"],
         "refund": ["i want a refund", "refund my purchase", "money back please",
                    "where is my refund", "refund not received", "request a refund"]}


def test_class_centroids_are_unit_class_means():
    e = np.array([[1, 0], [0, 1], [3, 0], [0, 0.5]], np.float32)
    c = class_centroids(e, [0, 0, 1, 1], 2)
    np.testing.assert_allclose(c, [[2 ** -0.5, 2 ** -0.5], [3 / 9.25 ** 0.5, 0.5 / 9.25 ** 0.5]],
                               rtol=1e-6)
    np.testing.assert_allclose(centroid_scores([[1, 0]], c), [3 / 9.25 ** 0.5], rtol=1e-6)
    with pytest.raises(ValueError, match="no example"):
        class_centroids(e, [0, 0, 0, 0], 2)


def _config(tmp_path, **data):
    rows = [(t, label) for label, texts in WORDS.items() for t in texts]
    train_csv = tmp_path / "my.csv"
    train_csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    config = {"name": "intent", "output_dir": str(tmp_path / "run"), "seed": 3, "epochs": 2,
              "steps_per_epoch": 5, "batch_size": 4, "learning_rate": 0.05,
              "warmup_steps": 1,
              "model": {"backbone": "frozen_encoder", "encoder": "scratch",
                        "sequence_length": 16, "hidden_dim": 8, "num_heads": 1,
                        "feature_cache": str(tmp_path / "cache")},
              "data": {"train": str(train_csv), "calibration_fraction": 0.34,
                       "accept_fraction": 0.5, "oos_score": "centroid", **data}}
    path = tmp_path / "intent.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path), [t for t, _ in rows]


def test_own_csv_trains_a_head_and_exports_one_string_in_savedmodel(tmp_path, run_python):
    import tensorflow as tf

    from lepton_tf.tasks.registry import train

    config_path, texts = _config(tmp_path)
    path = train("intent", config_path=config_path, base_dir=str(tmp_path / "models"),
                 export=True)
    cache = os.listdir(tmp_path / "cache")
    assert len(cache) == 1 and cache[0].startswith("scratch-")
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](text=tf.constant(texts))
    assert set(out) == {"intent", "probabilities", "out_of_scope", "in_scope_score", "labels"}
    assert [x.decode() for x in out["labels"].numpy()[0]] == ["card", "pin", "refund"]
    assert out["probabilities"].shape == (18, 3)
    assert loaded.oos_score_kind.numpy() == b"centroid"
    threshold = float(loaded.oos_threshold.numpy())
    scores = out["in_scope_score"].numpy()
    np.testing.assert_array_equal(out["out_of_scope"].numpy(), scores < threshold)
    assert (scores <= 1 + 1e-5).all() and (scores >= -1 - 1e-5).all()  # cosines
    graph = loaded.signatures["serving_default"].graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function
                                        for n in f.node_def}
    assert not [op for op in ops if op.startswith("Xla")]
    # The exported encoder is the one that made the cached training features.
    from lepton_tf.tasks.intent import _make_task
    from lepton_tf.training import load_config

    task = _make_task(load_config(config_path))
    features, _ = task._arrays(None, task.calibration)
    expected = centroid_scores(features, task.centroids())
    served = loaded.signatures["serving_default"](
        text=tf.constant([e.text for e in task.calibration]))["in_scope_score"].numpy()
    np.testing.assert_allclose(served, expected, atol=1e-4)


def test_centroid_score_needs_the_frozen_encoder(tmp_path):
    from lepton_tf.tasks.intent import _make_task
    from lepton_tf.training import load_config

    config_path, _ = _config(tmp_path)
    config = load_config(config_path)
    config.model.pop("backbone")
    with pytest.raises(ValueError, match="frozen_encoder"):
        _make_task(config)


def test_the_cache_encodes_only_new_texts(tmp_path, monkeypatch):
    import lepton_tf.models.embed_texts as embed_module
    from lepton_tf.tasks.intent import _make_task
    from lepton_tf.training import load_config

    config_path, texts = _config(tmp_path)
    task = _make_task(load_config(config_path))
    first = task.embeddings(texts[:10])
    encoded = []
    real = embed_module.embed_texts
    monkeypatch.setattr(embed_module, "embed_texts",
                        lambda enc, tok, batch, **kw: encoded.append(list(batch)) or
                        real(enc, tok, batch, **kw))
    again = _make_task(load_config(config_path)).embeddings(texts[5:10] + ["a new text"])
    assert encoded == [["a new text"]]
    np.testing.assert_allclose(again[:5], first[5:10], atol=1e-6)  # same (seeded) encoder
    np.testing.assert_allclose(np.linalg.norm(again, axis=1), 1.0, atol=1e-5)
