"""`ban_repeated_ngrams`: the no-repeat n-gram constraint of the in-graph samplers."""

import numpy as np
import tensorflow as tf

from lepton_tf.models.no_repeat import ban_repeated_ngrams


def _banned(tokens, index, n, vocab=10):
    out = ban_repeated_ngrams(tf.constant([tokens]), tf.constant(index),
                              tf.zeros([1, vocab]), tf.constant(n)).numpy()[0]
    return sorted(np.flatnonzero(out < -1e8).tolist())


def test_bans_the_token_that_would_repeat_an_ngram():
    # [BOS]=1, then 5 6 7 5 6: a 3-gram ending "5 6" was followed by 7.
    reply = [1, 5, 6, 7, 5, 6, 0, 0]
    assert _banned(reply, 6, 3) == [7]
    assert _banned(reply, 6, 2) == [7]  # "6" was followed by 7
    assert _banned(reply, 6, 4) == []   # "7 5 6" never came before
    assert _banned(reply, 6, 0) == []   # off
    assert _banned(reply, 6, 1) == [1, 5, 6, 7]  # any token already there
    # Later positions (the padding still to fill) are ignored.
    assert _banned([1, 5, 6, 9, 9, 9, 5, 6], 3, 3) == []


def test_rows_are_independent_and_in_graph_without_xla_ops():
    fn = tf.function(ban_repeated_ngrams).get_concrete_function(
        tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32),
        tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([], tf.int32))
    assert not [op.type for op in fn.graph.get_operations() if op.type.startswith("Xla")]
    tokens = tf.constant([[1, 5, 6, 7, 5, 6], [1, 5, 6, 8, 5, 6]])
    out = fn(tokens, tf.constant(6), tf.zeros([2, 10]), tf.constant(3)).numpy()
    assert np.flatnonzero(out[0] < -1e8).tolist() == [7]
    assert np.flatnonzero(out[1] < -1e8).tolist() == [8]
