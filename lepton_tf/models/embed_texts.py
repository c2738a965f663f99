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

    from lepton_tf.text.length_batches import encode_in_length_batches

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)], reduce_retracing=True)
    def embed(batch):
        return encoder(tokenizer(batch), training=False)

    return encode_in_length_batches(lambda batch: embed(tf.constant(batch)).numpy(), texts,
                                    batch_size, int(encoder.output_shape[-1]), desc)
