"""Caches frozen all-MiniLM-L6-v2 features of Banking77 and the OOS texts.

    python bench/intent_embeddings.py            # -> runs/intent_head/features.npz

For the intent-head experiments (`bench/intent_head.py`): per text the
mean-pooled token vectors of every transformer layer (before L2
normalisation), so heads on the last layer or on a mix of layers can be
compared without re-encoding. Texts are sorted by length and padded per
batch, the way the servable sees them.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def layer_features_model(sequence_length: int):
    """`text [B] -> [B, layers, 384]` mean-pooled per-layer vectors (a tf.function)."""
    import keras
    import tensorflow as tf
    from keras import ops

    from lepton_tf.models.masked_mean_pooling import MaskedMeanPooling
    from lepton_tf.models.sentence_encoder import SentenceEncoder
    from lepton_tf.text import MiniLMTokenizer

    backbone = SentenceEncoder.from_minilm().backbone
    outputs = [backbone.get_layer(f"transformer_layer_{i}").output
               for i in range(backbone.num_layers)]
    layers = keras.Model(backbone.inputs, outputs)
    tokenizer = MiniLMTokenizer(sequence_length=sequence_length)
    pool = MaskedMeanPooling()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def features(text):
        tokens = tokenizer(text)
        seq = layers({"token_ids": tokens["token_ids"], "padding_mask": tokens["padding_mask"],
                      "segment_ids": ops.zeros_like(tokens["token_ids"])})
        return tf.stack([pool(s, tokens["padding_mask"]) for s in seq], axis=1)

    return features


def encode(features, texts, batch_size: int = 64) -> np.ndarray:
    import tensorflow as tf
    from tqdm import tqdm

    order = np.argsort([len(t) for t in texts], kind="stable")
    out = [None] * len(texts)
    for start in tqdm(range(0, len(texts), batch_size), desc=f"encoding {len(texts)} texts",
                      mininterval=10):
        rows = order[start:start + batch_size]
        vectors = features(tf.constant([texts[i] for i in rows])).numpy()
        for i, v in zip(rows, vectors):
            out[i] = v
    return np.stack(out).astype(np.float16)


def main() -> None:
    from lepton_tf.data import read_banking77
    from lepton_tf.evaluation.intent import builtin_oos_texts

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="runs/intent_head/features.npz", help="npz to write")
    p.add_argument("--sequence-length", type=int, default=64, help="tokens per text at most")
    args = p.parse_args()
    features = layer_features_model(args.sequence_length)
    sets = {"train": read_banking77("train"), "test": read_banking77("test")}
    arrays = {}
    for name, examples in sets.items():
        start = time.time()
        arrays[f"{name}_x"] = encode(features, [e.text for e in examples])
        arrays[f"{name}_y"] = np.array([e.label for e in examples])
        print(f"{name}: {len(examples)} texts in {time.time() - start:.0f} s", flush=True)
    for source in ("sgd", "stackfaq"):
        arrays[f"oos_{source}_x"] = encode(features, builtin_oos_texts(source))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
