"""No repeated n-grams in a reply: the decoding constraint `no_repeat_ngram_size`.

What Hugging Face's `NoRepeatNGramLogitsProcessor` (and fairseq's
`--no-repeat-ngram-size`) do, written with plain TF ops for the in-graph
samplers (no `Xla*` op, any batch, a tensor `n`): at each step, a token that
would complete an n-gram already in the reply gets `-1e9` logits. With `n`
tokens generated so far ending in `(a, b)` and `n == 3`, every earlier
position `j` where the reply reads `a, b` bans the token that followed it.
`n <= 0` bans nothing. `MAX_NO_REPEAT_NGRAM` bounds `n` (the comparison is
unrolled over the n-gram's positions).
"""

from __future__ import annotations

import tensorflow as tf

MAX_NO_REPEAT_NGRAM = 6
_NEG_INF = -1e9


def ban_repeated_ngrams(tokens, index, logits, n):
    """`logits` with the tokens that would repeat an n-gram set to `-1e9`.

    Args:
        tokens: int `[B, T]`, the reply so far in positions `< index` (position
            0 may be `[BOS]`); later positions are ignored.
        index: int scalar, the position being generated.
        logits: float `[B, V]` for position `index`.
        n: int scalar n-gram size (`<= 0`: no constraint; at most
            `MAX_NO_REPEAT_NGRAM`).

    Returns:
        float `[B, V]`.
    """
    tokens = tf.cast(tokens, tf.int32)
    index = tf.cast(index, tf.int32)
    n = tf.minimum(tf.cast(n, tf.int32), MAX_NO_REPEAT_NGRAM)
    length = tf.shape(tokens)[1]
    last = length - 1
    starts = tf.range(length)  # j: an earlier n-gram starts here
    # The n-gram at j lies before the current position: j + n - 1 < index.
    match = tf.broadcast_to((starts[None, :] + n - 1 < index) & (n > 0), tf.shape(tokens))
    for m in range(MAX_NO_REPEAT_NGRAM - 1):  # prefix position m of the n-gram
        active = m < n - 1
        earlier = tf.gather(tokens, tf.minimum(starts + m, last), axis=1)      # [B, T]
        current = tf.gather(tokens, tf.clip_by_value(index - (n - 1) + m, 0, last),
                            axis=1)                                            # [B]
        match &= tf.logical_or(tf.equal(earlier, current[:, None]), tf.logical_not(active))
    following = tf.gather(tokens, tf.clip_by_value(starts + n - 1, 0, last), axis=1)
    vocab = tf.shape(logits)[-1]
    banned = tf.reduce_any(tf.logical_and(tf.one_hot(following, vocab, on_value=True,
                                                     off_value=False, dtype=tf.bool),
                                          match[:, :, None]), axis=1)          # [B, V]
    return tf.where(banned, tf.cast(_NEG_INF, logits.dtype), logits)
