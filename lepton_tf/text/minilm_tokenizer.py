"""In-graph WordPiece tokenizer for the uncased all-MiniLM-L6-v2 vocabulary."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from lepton_tf.text.vocab_io import resolve_vocabulary
from lepton_tf.text.wordpiece_offsets import MINILM_PACKAGE_HINT, minilm_vocab_path  # noqa: F401


@keras.saving.register_keras_serializable(package="lepton_tf")
class MiniLMTokenizer(keras.layers.Layer):
    """BERT-uncased WordPiece tokenizer that runs inside the TF graph.

    Matches the Hugging Face tokenizer of all-MiniLM-L6-v2 (lower-casing, NFD
    accent stripping, punctuation and CJK splitting, `[CLS] ... [SEP]`,
    truncation). The vocabulary is compiled into a constant of the graph, so
    a `tf.function` that calls this layer can be saved with
    `tf.saved_model.save` and served by TF Serving (which links the
    tensorflow-text ops) without any external vocabulary file.

    Args:
        vocabulary: Path of a `vocab.txt` or a list of tokens. Defaults to the
            all-MiniLM-L6-v2 vocabulary (see `minilm_vocab_path`).
        sequence_length: Maximum tokens per row, `[CLS]` and `[SEP]` included.
            Must be >= 2.
        **kwargs: Passed to `keras.layers.Layer`.

    Call args:
        strings: `tf.string` tensor of shape `[B]`.

    Returns (of `call`):
        A dict with `"token_ids"` (int32 `[B, L]`) and `"padding_mask"`
        (bool `[B, L]`), padded with 0 (`[PAD]`) to the longest row in the
        batch, `L <= sequence_length`. Each row is `[CLS] pieces [SEP]`, with
        word pieces dropped from the end when the row would be too long.

    Raises:
        ValueError: If `sequence_length < 2` or the vocabulary lacks
            `[PAD]`, `[UNK]`, `[CLS]` or `[SEP]`.

    Example:

    >>> tokenizer = MiniLMTokenizer(sequence_length=8)
    >>> out = tokenizer(tf.constant(["How do I reset my card PIN?", "hi"]))
    >>> out["token_ids"].numpy().tolist()
    [[101, 2129, 2079, 1045, 25141, 2026, 4003, 102], [101, 7632, 102, 0, 0, 0, 0, 0]]
    """

    def __init__(self, vocabulary=None, sequence_length=256, **kwargs):
        super().__init__(**kwargs)
        # Inputs are tf.string tensors: don't let Keras convert them.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be >= 2, got {sequence_length}")
        if vocabulary is None:
            vocabulary = minilm_vocab_path()
        # A tuple is not wrapped by Keras/TF tracking.
        self._vocab = tuple(resolve_vocabulary(vocabulary))
        self.sequence_length = int(sequence_length)
        ids = {token: i for i, token in enumerate(self._vocab)}
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in ids]
        if missing:
            raise ValueError(f"vocabulary lacks {missing}")
        self.pad_id = ids["[PAD]"]
        self.cls_id = ids["[CLS]"]
        self.sep_id = ids["[SEP]"]
        self._tokenizer = tf_text.FastBertTokenizer(
            list(self._vocab),
            lower_case_nfd_strip_accents=True,
            token_out_type=tf.int32,
        )
        self.built = True

    @property
    def vocabulary_size(self):
        """Number of tokens in the vocabulary."""
        return len(self._vocab)

    def get_vocabulary(self):
        """Returns the vocabulary as a list of strings (id `i` is item `i`)."""
        return list(self._vocab)

    def tokenize(self, strings):
        """Word pieces without special tokens or truncation: a `tf.string`
        tensor `[B]` -> an int32 `tf.RaggedTensor` `[B, None]`."""
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        return self._tokenizer.tokenize(strings)

    def call(self, strings):
        pieces = self.tokenize(strings)
        pieces = pieces[:, : self.sequence_length - 2]
        batch = pieces.nrows()
        cls = tf.fill(tf.stack([batch, 1]), tf.constant(self.cls_id, tf.int32))
        sep = tf.fill(tf.stack([batch, 1]), tf.constant(self.sep_id, tf.int32))
        rows = tf.concat([cls, pieces, sep], axis=1)
        token_ids = rows.to_tensor(default_value=self.pad_id)
        padding_mask = tf.ones_like(rows, dtype=tf.bool).to_tensor(default_value=False)
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    def tokenize_fixed(self, texts, batch_size=2048):
        """Tokenizes Python strings to numpy arrays of exactly `sequence_length`.

        For building training arrays outside the graph: rows are padded to
        the full length (not the batch's longest), so every batch has one
        static shape.

        Returns:
            `{"token_ids": int32 [N, sequence_length], "padding_mask": bool [...]}`.
        """
        import numpy as np

        ids = np.full((len(texts), self.sequence_length), self.pad_id, np.int32)
        for start in range(0, len(texts), batch_size):
            out = self(tf.constant(list(texts[start:start + batch_size])))["token_ids"].numpy()
            ids[start:start + len(out), :out.shape[1]] = out
        return {"token_ids": ids, "padding_mask": ids != self.pad_id}

    def compute_output_spec(self, strings):
        shape = (strings.shape[0], None)
        return {
            "token_ids": keras.KerasTensor(shape, dtype="int32"),
            "padding_mask": keras.KerasTensor(shape, dtype="bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocabulary": list(self._vocab), "sequence_length": self.sequence_length}
        )
        return config
