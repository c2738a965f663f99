"""The state tracker's input format: strings -> token ids, in the TF graph.

A turn is packed as ``[CLS] user [SEP] system [SEP]`` (segment 0 for the user
part, 1 for the system part), each utterance cut to its own budget so a long
system turn never pushes the user's words out. Every token keeps the byte
span it came from and which utterance (``token_source``: 0 user, 1 system,
-1 special or padding), so a predicted span is cut from the original string.
A schema description is packed as ``[CLS] description [SEP]``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from lepton_tf.text.vocab_io import resolve_vocabulary
from lepton_tf.text.wordpiece_offsets import minilm_vocab_path

USER, SYSTEM, SPECIAL = 0, 1, -1


@keras.saving.register_keras_serializable(package="lepton_tf")
class DSTPreprocessor(keras.layers.Layer):
    """Tokenizes dialogue turns and schema descriptions (BERT-uncased WordPiece, in-graph).

    Example:

    >>> pre = DSTPreprocessor(user_length=6, system_length=4, schema_length=6)
    >>> out = pre.pack_turns(tf.constant(["Book it for two"]), tf.constant(["How many?"]))
    >>> out["token_ids"].numpy().tolist()
    [[101, 2338, 2009, 2005, 2048, 102, 2129, 2116, 1029, 102, 0, 0, 0]]
    >>> out["token_source"].numpy().tolist()[0][:10]
    [-1, 0, 0, 0, 0, -1, 1, 1, 1, -1]
    >>> out["token_start"].numpy().tolist()[0][1:5], out["token_end"].numpy().tolist()[0][1:5]
    ([0, 5, 8, 12], [4, 7, 11, 15])

    Args:
        vocabulary: a ``vocab.txt`` path or token list (default all-MiniLM-L6-v2's).
        user_length: word pieces kept of the user utterance.
        system_length: word pieces kept of the system utterance.
        schema_length: tokens of a schema description, ``[CLS]``/``[SEP]`` included.
    """

    def __init__(self, vocabulary=None, user_length: int = 40, system_length: int = 37,
                 schema_length: int = 24, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        if min(user_length, system_length) < 1 or schema_length < 3:
            raise ValueError("user_length and system_length must be >= 1 and schema_length >= 3")
        self._vocab = tuple(resolve_vocabulary(vocabulary if vocabulary is not None else minilm_vocab_path()))
        ids = {token: i for i, token in enumerate(self._vocab)}
        self.pad_id, self.cls_id, self.sep_id = ids["[PAD]"], ids["[CLS]"], ids["[SEP]"]
        self.user_length = int(user_length)
        self.system_length = int(system_length)
        self.schema_length = int(schema_length)
        self._tokenizer = tf_text.FastBertTokenizer(list(self._vocab), lower_case_nfd_strip_accents=True,
                                                    token_out_type=tf.int32)
        self.built = True

    @property
    def sequence_length(self) -> int:
        """Length of a packed turn: ``[CLS] user [SEP] system [SEP]``."""
        return self.user_length + self.system_length + 3

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocab)

    def _pieces(self, strings, limit):
        ids, starts, ends = self._tokenizer.tokenize_with_offsets(strings)
        return ids[:, :limit], tf.cast(starts[:, :limit], tf.int32), tf.cast(ends[:, :limit], tf.int32)

    def pack_turns(self, user, system):
        """Pack turns into fixed-length rows.

        Args:
            user: ``tf.string [B]`` user utterances.
            system: ``tf.string [B]`` the system utterances before them ("" at the start).

        Returns:
            ``token_ids``, ``segment_ids`` (int32), ``padding_mask`` (bool), ``token_start``,
            ``token_end`` (byte offsets into the token's utterance; -1 for specials),
            ``token_source`` (0 user, 1 system, -1 special/padding), each ``[B, sequence_length]``.
        """
        u_ids, u_start, u_end = self._pieces(user, self.user_length)
        s_ids, s_start, s_end = self._pieces(system, self.system_length)
        batch = u_ids.nrows()

        def column(value):
            return tf.fill(tf.stack([batch, 1]), tf.constant(value, tf.int32))

        def ragged_like(pieces, value):
            return tf.ones_like(pieces, tf.int32) * value

        cls, sep = column(self.cls_id), column(self.sep_id)
        special = column(SPECIAL)
        token_ids = tf.concat([cls, u_ids, sep, s_ids, sep], axis=1)
        segment_ids = tf.concat([column(0), ragged_like(u_ids, 0), column(0), ragged_like(s_ids, 1), column(1)], 1)
        source = tf.concat([special, ragged_like(u_ids, USER), special, ragged_like(s_ids, SYSTEM), special], 1)
        starts = tf.concat([special, u_start, special, s_start, special], axis=1)
        ends = tf.concat([special, u_end, special, s_end, special], axis=1)
        shape = [None, self.sequence_length]
        return {
            "token_ids": token_ids.to_tensor(self.pad_id, shape=shape),
            "segment_ids": segment_ids.to_tensor(0, shape=shape),
            "padding_mask": tf.ones_like(token_ids, tf.bool).to_tensor(False, shape=shape),
            "token_start": starts.to_tensor(SPECIAL, shape=shape),
            "token_end": ends.to_tensor(SPECIAL, shape=shape),
            "token_source": source.to_tensor(SPECIAL, shape=shape),
        }

    def pack_schema(self, descriptions):
        """Pack schema descriptions ``tf.string [N]`` into ``token_ids``/``padding_mask`` ``[N, schema_length]``."""
        ids = self._tokenizer.tokenize(descriptions)[:, : self.schema_length - 2]
        batch = ids.nrows()
        cls = tf.fill(tf.stack([batch, 1]), tf.constant(self.cls_id, tf.int32))
        sep = tf.fill(tf.stack([batch, 1]), tf.constant(self.sep_id, tf.int32))
        rows = tf.concat([cls, ids, sep], axis=1)
        shape = [None, self.schema_length]
        return {"token_ids": rows.to_tensor(self.pad_id, shape=shape),
                "padding_mask": tf.ones_like(rows, tf.bool).to_tensor(False, shape=shape)}

    def call(self, user, system):
        return self.pack_turns(user, system)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary": list(self._vocab), "user_length": self.user_length,
                       "system_length": self.system_length, "schema_length": self.schema_length})
        return config
