"""`ChatPreprocessor`: context and reply strings -> the chat model's ids.

The keras-hub pattern: one object owns the model's input format. It holds
the tokenizer and the packing lengths, checks the vocabulary's reserved ids
against `lepton_tf.text.chat_format` when built, and packs in the graph, so
the training task, the exported servable and the evaluations pack text
identically.

Example:

>>> from lepton_tf.text import ChatTokenizer
>>> vocab = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]", "[USER]", "[SYSTEM]", "[DOC]",
...          "hi", "there", "bye"]
>>> pre = ChatPreprocessor(ChatTokenizer(vocab), context_length=6, reply_length=4)
>>> ids, mask = pre.pack_contexts(tf.constant(["[USER] hi there [SYSTEM] bye"]))
>>> ids.numpy().tolist()
[[5, 8, 9, 6, 10, 0]]
>>> inputs, labels = pre.pack_replies(tf.constant(["bye"]))
>>> inputs.numpy().tolist(), labels.numpy().tolist()
([[2, 10, 0, 0]], [[10, 3, 0, 0]])
"""

from __future__ import annotations

import tensorflow as tf

from lepton_tf.text.chat_format import (BOS_ID, DOC_ID, EOS_ID, PAD_ID, RESERVED_TOKENS,
                                        SYSTEM_ID, USER_ID)


def check_reserved_ids(tokenizer) -> None:
    """Raises ValueError unless the vocabulary has each reserved token at its id.

    Args:
        tokenizer: a `ChatTokenizer` (anything with `token_to_id`).

    Raises:
        ValueError: naming the tokens that sit elsewhere or are missing.
    """
    wrong = []
    for expected, token in enumerate(RESERVED_TOKENS):
        try:
            found = int(tokenizer.token_to_id(token))
        except (KeyError, ValueError):
            found = None
        if found != expected:
            wrong.append(f"{token} at {found} (expected {expected})")
    if wrong:
        raise ValueError("The chat vocabulary does not match the context format's reserved "
                         "ids: " + ", ".join(wrong) + ". Build it with `lepton-tf vocab chat`.")


class ChatPreprocessor(tf.Module):
    """Packs context and reply strings for `ChatModel`, in the graph.

    Args:
        tokenizer: the `ChatTokenizer` (its reserved ids are checked).
        context_length: encoder tokens.
        reply_length: decoder tokens (`[BOS]` + reply, or reply + `[EOS]`).
        max_context_turns: dialogue turns kept, counted from the end.
        max_passages: passages kept at the start of a grounded context.
        passage_length: tokens kept of each passage.

    Raises:
        ValueError: a vocabulary whose reserved ids differ from the format's.
    """

    def __init__(self, tokenizer, *, context_length: int, reply_length: int = 48,
                 max_context_turns: int = 5, max_passages: int = 0, passage_length: int = 0):
        super().__init__()
        check_reserved_ids(tokenizer)
        self.tokenizer = tokenizer
        self.context_length, self.reply_length = int(context_length), int(reply_length)
        self.max_context_turns = int(max_context_turns)
        self.max_passages, self.passage_length = int(max_passages), int(passage_length)

    @classmethod
    def for_model(cls, model, tokenizer) -> "ChatPreprocessor":
        """The preprocessor a `ChatModel`'s lengths call for."""
        return cls(tokenizer, context_length=model.context_length,
                   reply_length=model.reply_length, max_context_turns=model.max_context_turns,
                   max_passages=model.max_passages, passage_length=model.passage_length)

    def pack_contexts(self, contexts: tf.Tensor):
        """`(ids, mask)`: int32 `[B, context_length]` ids and their padding mask."""
        ids = pack_context(self.tokenizer.tokenize(contexts), self.max_context_turns,
                           self.context_length, self.max_passages, self.passage_length)
        return ids, tf.not_equal(ids, PAD_ID)

    def pack_replies(self, replies: tf.Tensor):
        """`(decoder_token_ids, labels)`, int32 `[B, reply_length]` (see `pack_reply`)."""
        return pack_reply(self.tokenizer.tokenize(replies), self.reply_length)

    def get_config(self) -> dict:
        return {"tokenizer": self.tokenizer.get_config(), "context_length": self.context_length,
                "reply_length": self.reply_length, "max_context_turns": self.max_context_turns,
                "max_passages": self.max_passages, "passage_length": self.passage_length}

    @classmethod
    def from_config(cls, config: dict) -> "ChatPreprocessor":
        from lepton_tf.text import ChatTokenizer

        config = dict(config)
        tokenizer = ChatTokenizer.from_config(config.pop("tokenizer"))
        return cls(tokenizer, **config)


def _split_passages(token_ids: tf.RaggedTensor):
    """`(passage ids, dialogue ids)`: a row opening with `[DOC]` has passages
    up to its first turn marker; any other row is all dialogue."""
    first = token_ids[:, :1].to_tensor(default_value=PAD_ID, shape=[None, 1])
    is_turn = tf.cast((token_ids == USER_ID) | (token_ids == SYSTEM_ID), tf.int32)
    before_turns = tf.math.cumsum(is_turn, axis=1) == 0
    in_passages = tf.logical_and(before_turns, first == DOC_ID)
    return (tf.ragged.boolean_mask(token_ids, in_passages),
            tf.ragged.boolean_mask(token_ids, tf.logical_not(in_passages)))


def _clip_passages(passage_ids: tf.RaggedTensor, max_passages: int,
                   passage_length: int) -> tf.RaggedTensor:
    """Keeps the first `max_passages` passages, each cut to `passage_length` tokens.

    Every non-empty row starts with `[DOC]`, so over the flat values a running
    count of `[DOC]` ids numbers the passages of the whole batch in order.
    """
    flat = passage_ids.flat_values
    is_doc = tf.cast(flat == DOC_ID, tf.int32)
    segment = tf.math.cumsum(is_doc) - 1
    starts = tf.cast(tf.where(is_doc > 0)[:, 0], tf.int32)
    position = tf.range(tf.size(flat)) - tf.gather(starts, tf.maximum(segment, 0))
    number = passage_ids.with_flat_values(is_doc)
    number = tf.math.cumsum(number, axis=1)  # 1-based passage number within its row
    keep = tf.logical_and(number <= max_passages,
                          passage_ids.with_flat_values(position < passage_length))
    return tf.ragged.boolean_mask(passage_ids, keep)


def pack_context(token_ids: tf.RaggedTensor, max_turns: int, length: int,
                 max_passages: int = 0, passage_length: int = 0) -> tf.Tensor:
    """Packs context ids for the encoder: passages (if any), then the last turns.

    A context may open with retrieved passages, each marked `[DOC]` and
    numbered (`"[DOC] [1] title: text [DOC] [2] ... [USER] question"`, see
    `lepton_tf.text.chat_format.build_context`): the first
    `max_passages` are kept, each cut to its first `passage_length` tokens
    (0 passages: they are dropped). The dialogue that follows keeps its last
    `max_turns` turns, counted by their speaker markers, and then its last
    tokens up to what `length` leaves. Dialogue text that does not start with
    a marker is one user turn (a `[USER]` id is put in front), so training
    data and served text go through exactly the same packing.

    Example:

    >>> ids = tf.ragged.constant([[5, 10, 6, 11, 12, 5, 13]])
    >>> pack_context(ids, max_turns=2, length=4).numpy().tolist()
    [[11, 12, 5, 13]]
    >>> ids = tf.ragged.constant([[7, 20, 21, 22, 7, 30, 31, 5, 13]])
    >>> pack_context(ids, 2, 6, max_passages=2, passage_length=2).numpy().tolist()
    [[7, 20, 7, 30, 5, 13]]

    Args:
        token_ids: int32 ragged `[B, None]` ids from `ChatTokenizer`.
        max_turns: turns kept, counted from the end.
        length: tokens kept in all.
        max_passages: passages kept, counted from the start.
        passage_length: tokens kept of each passage, counted from its `[DOC]`.

    Returns:
        int32 `[B, length]` ids, left-aligned, padded with `[PAD]` (0).
    """
    token_ids = tf.cast(token_ids, tf.int32)
    passages, token_ids = _split_passages(token_ids)
    if max_passages > 0 and passage_length > 0:
        passages = _clip_passages(passages, max_passages, passage_length)
        passages = passages[:, :length]
    else:
        passages = passages[:, :0]
    first = token_ids[:, :1].to_tensor(default_value=PAD_ID, shape=[None, 1])[:, 0]
    starts_marked = (first == USER_ID) | (first == SYSTEM_ID)
    prefix = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(~starts_marked, tf.int32))], USER_ID),
        tf.cast(~starts_marked, tf.int64))
    token_ids = tf.concat([prefix, token_ids], axis=1)
    marker = tf.cast((token_ids == USER_ID) | (token_ids == SYSTEM_ID), tf.int32)
    turn = tf.math.cumsum(marker, axis=1)  # 1-based turn of each token
    turns = tf.reduce_sum(marker, axis=1, keepdims=True)
    token_ids = tf.ragged.boolean_mask(token_ids, turn > turns - max_turns)
    # Left truncation: the newest tokens matter most for the next reply.
    lengths = token_ids.row_lengths()
    budget = length - passages.row_lengths()
    starts = tf.maximum(lengths - budget, 0)
    token_ids = tf.RaggedTensor.from_row_lengths(
        tf.gather(token_ids.flat_values,
                  tf.ragged.range(token_ids.row_starts() + starts,
                                  token_ids.row_limits()).flat_values),
        lengths - starts)
    token_ids = tf.concat([passages, token_ids], axis=1)
    return token_ids.to_tensor(default_value=PAD_ID, shape=[None, length])


def pack_reply(token_ids: tf.RaggedTensor, length: int):
    """Teacher-forcing decoder inputs and labels for reply ids.

    Example:

    >>> ids = tf.ragged.constant([[10, 11], [12, 13, 14, 15]])
    >>> inputs, labels = pack_reply(ids, length=4)
    >>> inputs.numpy().tolist(), labels.numpy().tolist()
    ([[2, 10, 11, 0], [2, 12, 13, 14]], [[10, 11, 3, 0], [12, 13, 14, 0]])

    Args:
        token_ids: int32 ragged `[B, None]` reply ids (no special tokens).
        length: decoder length.

    Returns:
        `(decoder_token_ids, labels)`, int32 `[B, length]`: `[BOS]` + reply,
        and reply + `[EOS]`, `[PAD]`-padded. A reply cut at `length - 1`
        tokens gets no `[EOS]`: the model must not learn to stop there.
    """
    reply = tf.cast(token_ids, tf.int32)[:, :length - 1]
    n = reply.nrows()
    inputs = tf.concat([tf.fill([n, 1], BOS_ID), reply], axis=1)
    full = reply.row_lengths() < length - 1
    eos = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(full, tf.int32))], EOS_ID), tf.cast(full, tf.int64))
    labels = tf.concat([reply, eos], axis=1)
    return (inputs.to_tensor(PAD_ID, shape=[None, length]),
            labels.to_tensor(PAD_ID, shape=[None, length]))
