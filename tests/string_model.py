"""A small string-in servable for exporter and server tests: keras + tf-text."""

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import keras

from lepton_tf.export.input_checks import check_string_batch


class WordCountServable(tf.Module):
    """Counts words (tf-text whitespace tokenizer) and scores them with a Dense."""

    def __init__(self, seed=0):
        super().__init__()
        keras.utils.set_random_seed(seed)
        self.dense = keras.layers.Dense(2)
        self.dense.build((None, 1))
        self.tokenizer = tf_text.WhitespaceTokenizer()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        # As our exported servables do: tf-text's tokenizers abort the process
        # on a batch that is not [B] (a scalar, a [1, 0] tensor).
        words = self.tokenizer.tokenize(check_string_batch(text, "text"))
        count = tf.cast(words.row_lengths(), tf.float32)[:, None]
        return {"count": tf.cast(count[:, 0], tf.int64), "scores": self.dense(count)}


EXAMPLES = {"serving_default": {"text": np.array([b"hello world", b"one two three"])}}


def export(base_dir, version=None, **kwargs):
    from lepton_tf.export import export_servable
    m = WordCountServable()
    return export_servable(m, name="words", signatures={"serving_default": m.serve},
                           examples=EXAMPLES, base_dir=base_dir, version=version, **kwargs)


if __name__ == "__main__":
    import sys
    print("EXPORTED", export(sys.argv[1]), flush=True)
