"""Dual encoder: MiniLM parity, in-batch loss, training, export."""

import gzip
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.export.encoder_servable import EncoderServable, export_encoder
from lepton_tf.models.retrieval import DualEncoder
from lepton_tf.models.sentence_encoder import SentenceEncoder

REFERENCE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data",
                         "minilm_reference.jsonl.gz")


def tiny_towers(seed=0):
    import keras
    keras.utils.set_random_seed(seed)
    return SentenceEncoder.from_scratch(vocabulary_size=30522, num_layers=1, hidden_dim=16,
                                        num_heads=2, max_sequence_length=64)


def test_minilm_from_raw_text_matches_reference_embeddings():
    with gzip.open(REFERENCE, "rt") as f:
        refs = [json.loads(line) for line in f]
    servable = EncoderServable(DualEncoder(SentenceEncoder.from_minilm()), document_length=256)
    got = servable.encode_document(tf.constant([r["text"] for r in refs]))["embedding"].numpy()
    want = np.array([r["embedding"] for r in refs])
    cosine = (got * want).sum(1) / np.linalg.norm(want, axis=1)
    assert cosine.min() >= 0.999, (cosine.min(), refs[int(cosine.argmin())]["text"])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def _batch(keys, n_tokens=6):
    rng = np.random.RandomState(0)
    b = len(keys)
    ids = rng.randint(1000, 2000, size=(b, n_tokens)).astype("int32")
    mask = np.ones((b, n_tokens), bool)
    return {"query_token_ids": ids, "query_padding_mask": mask,
            "document_token_ids": ids[::-1].copy(), "document_padding_mask": mask,
            "document_key": np.array(keys, np.int64)}


def test_accidental_hits_are_masked_and_negatives_widen_the_logits():
    model = DualEncoder(tiny_towers(), temperature=0.1)
    logits = model(_batch([1, 2, 1, 3])).numpy()
    assert logits.shape == (4, 4)
    # Rows 0 and 2 share a document: each is masked in the other's row only.
    assert logits[0, 2] < -1e8 and logits[2, 0] < -1e8
    assert logits[0, 0] > -1e8 and logits[1, 3] > -1e8
    batch = _batch([1, 2, 3, 4])
    batch["negative_token_ids"] = batch["query_token_ids"]
    batch["negative_padding_mask"] = batch["query_padding_mask"]
    assert model(batch).shape == (4, 8)
    # Temperature: logits are cosine / T, so at most 1 / T.
    assert model(_batch([1, 2, 3, 4])).numpy().max() <= 10.0 + 1e-4


def test_config_round_trip_keeps_separate_towers():
    model = DualEncoder(tiny_towers(0), tiny_towers(1), temperature=0.07, learn_temperature=True)
    clone = DualEncoder.from_config(model.get_config())
    assert not clone.shared and clone.temperature == 0.07 and clone.learn_temperature
    assert DualEncoder.from_config(DualEncoder(tiny_towers()).get_config()).shared


def test_training_through_the_trainer_lowers_the_loss(tmp_path):
    from lepton_tf.data.pairs import RetrievalPair
    from lepton_tf.tasks.encoder import EncoderTask
    from lepton_tf.training import TrainConfig, Trainer

    topics = ["card", "loan", "visa", "rent", "tax", "bus", "train", "movie"]
    pairs = [RetrievalPair(f"question about {t} {i}", f"answer on {t}") for t in topics
             for i in range(8)]
    config = TrainConfig(name="enc", output_dir=str(tmp_path), seed=1, epochs=2,
                         steps_per_epoch=12, batch_size=8, learning_rate=3e-3,
                         model={"init": "scratch", "num_layers": 1, "hidden_dim": 32,
                                "num_heads": 2, "query_length": 12, "document_length": 12})
    task = EncoderTask(pairs)
    trainer = Trainer(config, verbose=0)
    model = trainer.build(task)
    before = model.evaluate(task.train_dataset(config), steps=4, verbose=0)
    trainer.fit(task, model)
    after = model.evaluate(task.train_dataset(config), steps=4, verbose=0)
    assert after < before * 0.7, (before, after)


def test_export_reloads_in_plain_tensorflow_with_unit_embeddings(tmp_path, run_python):
    model = DualEncoder(tiny_towers())
    path = export_encoder(model, base_dir=str(tmp_path), query_length=16, document_length=32)
    proc = run_python(f"""
import numpy as np, tensorflow as tf, tensorflow_text
m = tf.saved_model.load({path!r})
q = m.signatures["encode_query"](text=tf.constant(["how do I pay?", "Café São"]))["embedding"]
d = m.signatures["encode_document"](text=tf.constant(["pay here"]))["embedding"]
s = m.signatures["serving_default"](text=tf.constant(["how do I pay?"]))["embedding"]
print("SHAPE", q.shape.as_list(), d.shape.as_list(), np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5),
      np.allclose(s.numpy()[0], q.numpy()[0], atol=1e-6))
""")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SHAPE [2, 16] [1, 16] True True" in proc.stdout


def test_frozen_lower_layers_keep_their_weights_and_the_rest_trains(tmp_path):
    from lepton_tf.data.pairs import RetrievalPair
    from lepton_tf.tasks.encoder import EncoderTask
    from lepton_tf.training import TrainConfig, Trainer

    pairs = [RetrievalPair(f"question about {t} {i}", f"answer on {t}")
             for t in ["card", "loan", "visa", "rent"] for i in range(4)]
    config = TrainConfig(name="enc", output_dir=str(tmp_path), seed=1, epochs=1,
                         steps_per_epoch=3, batch_size=8, learning_rate=1e-2,
                         model={"init": "scratch", "num_layers": 2, "hidden_dim": 16,
                                "num_heads": 2, "query_length": 12, "document_length": 12,
                                "frozen_layers": 1})
    task = EncoderTask(pairs)
    trainer = Trainer(config, verbose=0)
    model = trainer.build(task)
    backbone = model.query_encoder.backbone
    layers = {n: backbone.get_layer(n) for n in ("token_embedding", "transformer_layer_0",
                                                 "transformer_layer_1")}
    before = {n: [w.numpy().copy() for w in layer.weights] for n, layer in layers.items()}
    trainer.fit(task, model)
    moved = {n: max(float(np.abs(a - w.numpy()).max()) for a, w in zip(before[n], layer.weights))
             for n, layer in layers.items()}
    assert moved["token_embedding"] == 0 and moved["transformer_layer_0"] == 0, moved
    assert moved["transformer_layer_1"] > 0, moved
    with pytest.raises(ValueError, match="0 to 2"):
        model.query_encoder.freeze_lower_layers(3)
