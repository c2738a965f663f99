"""Learning a cased WordPiece vocabulary for the chat model.

The reserved tokens come first, at fixed ids (a contract other modules rely
on): 0 `[PAD]`, 1 `[UNK]`, 2 `[BOS]`, 3 `[EOS]`, 4 `[SEP]`, 5 `[USER]`,
6 `[SYSTEM]`, 7 `[DOC]`.
"""

import random

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

from lepton_tf.text.chat_format import RESERVED_TOKENS
from lepton_tf.text.vocab_io import load_vocab, save_vocab

__all__ = ["CHAT_RESERVED_TOKENS", "build_chat_vocab", "save_vocab", "load_vocab"]

CHAT_RESERVED_TOKENS = list(RESERVED_TOKENS)  # the context format's, at ids 0..7

# Measured on 2 shared CPU cores: 11 s for a 100k sample of SGD train
# utterances (3,765 tokens), 13 s for all 224k (5,631 tokens). Word counting
# takes ~1 s; the rest is the learner, whose cost grows with the number of
# distinct words, so the sample bounds the time for larger or wordier corpora.
DEFAULT_MAX_TEXTS = 100_000


def build_chat_vocab(
    texts,
    vocab_size=8000,
    reserved_tokens=CHAT_RESERVED_TOKENS,
    max_texts=DEFAULT_MAX_TEXTS,
    seed=0,
    learn_params=None,
):
    """Learns a cased WordPiece vocabulary with tensorflow-text's tool.

    Uses `bert_vocab_from_dataset` with `lower_case=False` (BERT basic
    splitting: whitespace, punctuation, CJK characters). If there are more
    than `max_texts` texts, a uniform random sample of `max_texts` of them
    (fixed `seed`) is used, which keeps the build under a minute on 2 cores;
    pass `max_texts=None` to use everything.

    `vocab_size` is a target, not a promise: the learner ignores words seen
    fewer than `learn_params["lower_thresh"]` (default 10) times, so a small
    corpus gives a smaller vocabulary (100k SGD utterances: 3,765 tokens for
    a target of 8,000), and its binary search can overshoot when
    `lower_thresh` is lowered. The corpus characters (up to 1000 distinct)
    and their `##` forms are always included, so it is characters never seen
    in the corpus that turn a word into `[UNK]`.

    Args:
        texts: Iterable of `str` (e.g. utterances).
        vocab_size: Target vocabulary size, reserved tokens included.
        reserved_tokens: Tokens placed first, in this order (ids 0..n-1).
        max_texts: Sample at most this many texts; `None` for no limit.
        seed: Seed of the sample.
        learn_params: Extra keyword arguments for
            `wordpiece_tokenizer_learner_lib.learn` (e.g. `lower_thresh`).

    Returns:
        The vocabulary, a `list` of `str`; `vocab[i]` is token id `i`.

    Raises:
        ValueError: If `texts` is empty or `vocab_size` is not larger than the
            number of reserved tokens.

    Example:

    >>> vocab = build_chat_vocab(["Hello there.", "Hello again!"] * 20,
    ...                          vocab_size=200)
    >>> vocab[:8] == CHAT_RESERVED_TOKENS
    True
    >>> "Hello" in vocab
    True
    """
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("texts is empty")
    reserved_tokens = list(reserved_tokens)
    if vocab_size <= len(reserved_tokens):
        raise ValueError(
            f"vocab_size ({vocab_size}) must exceed the {len(reserved_tokens)} "
            "reserved tokens"
        )
    if max_texts is not None and len(texts) > max_texts:
        texts = random.Random(seed).sample(texts, max_texts)
    # Batched elements: the word counter then works on whole batches at once
    # instead of one Python iteration per sentence.
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(2048).prefetch(2)
    vocab = bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=reserved_tokens,
        bert_tokenizer_params=dict(lower_case=False),
        learn_params=learn_params,
    )
    if vocab[: len(reserved_tokens)] != reserved_tokens:  # contract check
        raise AssertionError("reserved tokens are not at ids 0..n-1")
    return list(vocab)
