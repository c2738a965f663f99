"""Texts -> sentence embeddings with a `SentenceEncoder`, in length-sorted batches."""

from __future__ import annotations

import numpy as np


def embed_texts(encoder, tokenizer, texts, batch_size: int = 64,
                desc: str = "embedding") -> np.ndarray:
    """Embeds texts; batches hold texts of similar length (less padding).

    Args:
        encoder: token ids/padding mask -> `[B, D]` (a `SentenceEncoder`).
        tokenizer: strings -> `{token_ids, padding_mask}` padded to the
            batch's longest row (a `MiniLMTokenizer`).
        texts: the texts.
        batch_size: texts per call.
        desc: the progress bar's label.

    Returns:
        float32 `[N, D]` in the order of `texts`.
    """
    import tensorflow as tf

    from lepton_tf.progress import progress

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
    def embed(batch):
        return encoder(tokenizer(batch), training=False)

    texts = list(texts)
    out = np.zeros((len(texts), int(encoder.output_shape[-1])), np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    bar = progress(desc=f"{desc} ({len(texts)} texts)", total=len(texts), unit="text")
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        out[rows] = embed(tf.constant([texts[i] for i in rows])).numpy()
        bar.update(len(rows))
    bar.close()
    return out
