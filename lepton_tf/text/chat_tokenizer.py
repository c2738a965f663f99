"""In-graph cased WordPiece tokenizer for the chat model."""

import re

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from lepton_tf.text.chat_format import RESERVED_TOKENS
from lepton_tf.text.detokenize import join_wordpieces
from lepton_tf.text.vocab_io import resolve_vocabulary

# Bracketed vocabulary entries such as `[USER]` are reserved tokens: in input
# text they are kept whole (one id) instead of being split at `[` and `]`.
_RESERVED_RE = re.compile(r"^\[[A-Za-z0-9_]+\]$")
# Tokens that `detokenize` drops.
_DROPPED_ON_DETOKENIZE = ("[PAD]", "[BOS]", "[EOS]")
_REQUIRED = RESERVED_TOKENS


@keras.saving.register_keras_serializable(package="lepton_tf")
class ChatTokenizer(keras.layers.Layer):
    """Cased WordPiece tokenizer and detokenizer that run inside the TF graph.

    Text is split at whitespace, punctuation and CJK characters and then into
    word pieces with `tensorflow_text.FastBertTokenizer` (no lower-casing, no
    accent stripping). The vocabulary is compiled into graph constants, so a
    `tf.function` using this layer can be saved in a SavedModel with no
    external asset. Reserved tokens (bracketed vocabulary entries such as
    `[USER]`, `[SYSTEM]`, `[DOC]`, `[SEP]`) written in the text become one id
    each. A word containing a character not in the vocabulary becomes a single
    `[UNK]`.

    Args:
        vocabulary: Path of a one-token-a-line file or a list of tokens; it
            must contain `[PAD] [UNK] [BOS] [EOS] [SEP] [USER] [SYSTEM]
            [DOC]` (see `CHAT_RESERVED_TOKENS`).
        **kwargs: Passed to `keras.layers.Layer`.

    Call args (same as `tokenize`):
        strings: `tf.string` tensor of shape `[B]`.

    Returns (of `call`):
        int32 `tf.RaggedTensor` `[B, None]`.

    Raises:
        ValueError: If a required reserved token is missing.

    Example:

    >>> vocab = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[USER]",
    ...          "[SYSTEM]", "[DOC]", "Hi", "there", "!", "'", "s", "it",
    ...          "fine", "##s"]
    >>> tokenizer = ChatTokenizer(vocab)
    >>> ids = tokenizer.tokenize(tf.constant(["[USER] Hi there! it's fines"]))
    >>> ids.to_list()
    [[5, 8, 9, 10, 13, 11, 12, 14, 15]]
    >>> tokenizer.detokenize(ids).numpy().tolist()
    [b"[USER] Hi there! it's fines"]
    """

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        # A tuple is not wrapped by Keras/TF tracking.
        self._vocab = tuple(resolve_vocabulary(vocabulary))
        self._ids = {}
        for i, token in enumerate(self._vocab):
            self._ids.setdefault(token, i)
        missing = [t for t in _REQUIRED if t not in self._ids]
        if missing:
            raise ValueError(f"vocabulary lacks reserved tokens {missing}")
        reserved = [t for t in self._ids if _RESERVED_RE.match(t)]
        self._reserved_pattern = "|".join(re.escape(t) for t in reserved)
        self._reserved_tokens = tf.constant(reserved, tf.string)
        self._reserved_ids = tf.constant([self._ids[t] for t in reserved], tf.int32)
        self._vocab_tensor = tf.constant(self._vocab, tf.string)
        self._dropped_ids = tf.constant(
            [self._ids[t] for t in _DROPPED_ON_DETOKENIZE], tf.int32
        )
        self._tokenizer = tf_text.FastBertTokenizer(
            list(self._vocab),
            lower_case_nfd_strip_accents=False,
            token_out_type=tf.int32,
        )
        self.built = True

    def tokenize(self, strings):
        """Tokenizes strings into word-piece ids (no special tokens added).

        Args:
            strings: `tf.string` tensor of shape `[B]`.

        Returns:
            int32 `tf.RaggedTensor` of shape `[B, None]`.
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        # Split around reserved tokens, keeping them: [B, segments].
        segments = tf_text.regex_split(
            strings, self._reserved_pattern, self._reserved_pattern
        )
        flat = segments.flat_values
        matches = tf.equal(flat[:, None], self._reserved_tokens[None, :])
        is_reserved = tf.reduce_any(matches, axis=1)
        reserved_id = tf.reduce_sum(
            tf.cast(matches, tf.int32) * self._reserved_ids[None, :], axis=1
        )
        # Reserved segments become exactly their id, other segments their
        # word pieces ([N, 0 or 1] concatenated with [N, pieces]).
        special = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(reserved_id, is_reserved),
            tf.cast(is_reserved, tf.int64),
        )
        pieces = self._tokenizer.tokenize(tf.where(is_reserved, "", flat))
        per_segment = tf.concat([special, pieces], axis=1)
        return segments.with_flat_values(per_segment).merge_dims(1, 2)

    def detokenize(self, ids):
        """Turns ids back into readable text.

        Drops `[PAD]`, `[BOS]` and `[EOS]`, joins `##` word pieces and fixes
        the spacing around punctuation (see `join_wordpieces`).

        Args:
            ids: int `tf.RaggedTensor` or dense tensor of shape `[B, None]`
                (dense rows may be padded with `[PAD]`).

        Returns:
            `tf.string` tensor of shape `[B]`.
        """
        if not isinstance(ids, tf.RaggedTensor):
            ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
        ids = tf.cast(ids, tf.int32)
        keep = tf.reduce_all(
            tf.not_equal(ids.flat_values[:, None], self._dropped_ids[None, :]), axis=1
        )
        ids = tf.ragged.boolean_mask(ids, ids.with_flat_values(keep))
        tokens = tf.gather(self._vocab_tensor, ids)
        return join_wordpieces(tokens)

    def call(self, strings):
        return self.tokenize(strings)

    def get_vocabulary(self):
        """Returns the vocabulary as a list of strings (id `i` is item `i`)."""
        return list(self._vocab)

    def token_to_id(self, token):
        """Returns the id of `token`; raises `KeyError` if it is unknown."""
        return self._ids[token]

    @property
    def vocabulary_size(self):
        """Number of tokens in the vocabulary."""
        return len(self._vocab)

    @property
    def pad_id(self):
        return self._ids["[PAD]"]

    @property
    def unk_id(self):
        return self._ids["[UNK]"]

    @property
    def bos_id(self):
        return self._ids["[BOS]"]

    @property
    def eos_id(self):
        return self._ids["[EOS]"]

    @property
    def sep_id(self):
        return self._ids["[SEP]"]

    @property
    def user_id(self):
        return self._ids["[USER]"]

    @property
    def system_id(self):
        return self._ids["[SYSTEM]"]

    @property
    def doc_id(self):
        return self._ids["[DOC]"]

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": list(self._vocab)})
        return config
