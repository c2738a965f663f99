"""The `chat` servable: dialogue text in, the next system turn out.

Signatures (`serving_default` and `generate` return `reply`: string `[B]` and
`tokens_generated`: int32 `[B]`, new tokens per row counting a closing `[EOS]`):

- `serving_default(context)`: decodes with the exported defaults (greedy,
  `DEFAULT_MAX_NEW_TOKENS`, unless `export_chat` was told otherwise);
- `score(context, reply)`: `nll` and `tokens` of a reply (perplexity);
- `generate_tokens`: `generate` plus the raw token ids (tests, debugging);
- `generate(context, max_new_tokens, temperature, top_p, top_k, num_beams,
  seed, no_repeat_ngram_size)`: scalars; `temperature == 0` or `top_k == 1`
  is greedy, `top_p < 1` nucleus sampling, `top_k > 0` top-k sampling,
  `num_beams > 1` beam search with a length penalty (sampling options then
  ignored); `no_repeat_ngram_size` n > 0: no word-piece n-gram twice in a
  reply, whatever the method (`models.no_repeat`; 0: off;
  `serving_default` uses `DEFAULT_NO_REPEAT_NGRAM`).

`context` (string `[B]`): the dialogue so far, each turn opened by a speaker
marker, `"[USER] I need a bus. [SYSTEM] Where to? [USER] Fresno."`; text not
starting with a marker is one user turn. The model reads the last
`max_context_turns` turns, left-truncated to `context_length` tokens. A
grounded context opens with numbered passages, `"[DOC] [1] title: text
[DOC] [2] ... [USER] question"`: the model reads the first `max_passages`,
each cut to `passage_length` tokens, and may cite them as `[n]`.

Input checks (each fails the request with `INVALID_ARGUMENT` and a message
naming the input): empty or all-blank context; context that is not valid
UTF-8; `max_new_tokens` outside `[1, max_new_tokens_limit]`; `top_p` outside
`(0, 1]`; negative or non-finite `temperature`; negative `top_k`;
`num_beams` outside `[1, MAX_BEAMS]`; `no_repeat_ngram_size` outside
`[0, MAX_NO_REPEAT_NGRAM]`. Documented clamps: only the last
`MAX_CONTEXT_CHARS` characters of a context are read (a 100 kB context
works; the model sees ~100 tokens anyway), or of a grounded one its first
and last `MAX_CONTEXT_CHARS / 2`; `top_k` above the vocabulary
size means the whole vocabulary.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lepton_tf.contracts import chat as chat_contract
from lepton_tf.contracts.chat import (CONTEXT, DEFAULT_MAX_NEW_TOKENS, DEFAULT_NO_REPEAT_NGRAM, NLL,
                                      REPLY, TOKENS, TOKENS_GENERATED)
from lepton_tf.export.input_checks import check_scalar, check_string_batch
from lepton_tf.models.chat_preprocessor import ChatPreprocessor
from lepton_tf.models.chat_generation import MAX_BEAMS, ChatDecoder
from lepton_tf.models.no_repeat import MAX_NO_REPEAT_NGRAM
from lepton_tf.text.chat_format import GROUNDED_CONTEXT_PATTERN

MAX_CONTEXT_CHARS = 4096
_SCALARS = tuple((name, tf.as_dtype(dtype)) for name, dtype in chat_contract.GENERATE_OPTIONS)


class ChatServable(tf.Module):
    """Tokenizer + `ChatModel` + in-graph decoding behind string signatures.

    Example:

    >>> servable = ChatServable(model, tokenizer)  # doctest: +SKIP
    >>> servable.generate(tf.constant(["[USER] Find me a bus to Fresno."]),
    ...                   20, 0.0, 1.0, 0, 1, 0)["reply"]  # doctest: +SKIP

    (Skipped in the doctests: it needs a trained `ChatModel`.)

    Args:
        model: a trained `ChatModel`.
        tokenizer: the `ChatTokenizer` it was trained with.
        max_new_tokens: `serving_default`'s reply budget.
        num_beams: `serving_default`'s beams (1: greedy).
        length_penalty_alpha: beam-search length penalty exponent.
        use_cache: False exports the no-cache decoder (benchmark baseline).
        stop_at_eos: False always decodes `max_new_tokens` (benchmarks).
        no_repeat_ngram_size: `serving_default`'s no-repeat n-gram size (0: off).
    """

    def __init__(self, model, tokenizer, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 num_beams: int = 1, length_penalty_alpha: float = 0.6,
                 use_cache: bool = True, stop_at_eos: bool = True,
                 no_repeat_ngram_size: int = DEFAULT_NO_REPEAT_NGRAM):
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.preprocessor = ChatPreprocessor.for_model(model, tokenizer)
        self.decoder = ChatDecoder(model, length_penalty_alpha, stop_at_eos=stop_at_eos)
        self.use_cache = use_cache
        # Positions past `max_length - 1` have no embedding.
        self.max_new_tokens_limit = int(model.max_length) - 1
        self.defaults = dict(chat_contract.GENERATE_DEFAULTS,
                             max_new_tokens=min(int(max_new_tokens), self.max_new_tokens_limit),
                             num_beams=int(num_beams),
                             no_repeat_ngram_size=int(no_repeat_ngram_size))

    @staticmethod
    def _check_text(text, name):
        """Fails on a batch that is not `[B]` strings, blank or non-UTF-8
        (`input_checks`); keeps the last MAX_CONTEXT_CHARS."""
        text = check_string_batch(text, name, require_text=True)
        chars = tf.strings.length(text, unit="UTF8_CHAR")
        start = tf.maximum(chars - MAX_CONTEXT_CHARS, 0)
        tail = tf.strings.substr(text, start, chars - start, unit="UTF8_CHAR")
        # Passages open a grounded context: keep its head too, so a long
        # dialogue does not push them out (the packing reads both ends).
        half = MAX_CONTEXT_CHARS // 2
        # (clamped: substr fails on a start past the end, and tf.where
        # evaluates this branch for short texts too)
        tail_start = tf.minimum(tf.maximum(chars - half, half), chars)
        head_and_tail = tf.strings.join([
            tf.strings.substr(text, 0, half, unit="UTF8_CHAR"),
            tf.strings.substr(text, tail_start, chars - tail_start, unit="UTF8_CHAR")],
            separator=" ")
        grounded = tf.strings.regex_full_match(text, GROUNDED_CONTEXT_PATTERN)
        return tf.where(grounded & (chars > MAX_CONTEXT_CHARS), head_and_tail, tail)

    def _check(self, context, max_new_tokens, temperature, top_p, top_k, num_beams,
               no_repeat_ngram_size):
        """Asserts with client-readable messages; returns the clamped context."""
        limit = self.max_new_tokens_limit
        checks = [
            tf.debugging.assert_greater(max_new_tokens, 0,
                                        message=f"max_new_tokens must be in [1, {limit}]"),
            tf.debugging.assert_less_equal(max_new_tokens, limit,
                                           message=f"max_new_tokens must be in [1, {limit}]"),
            tf.debugging.assert_greater(top_p, 0.0, message="top_p must be in (0, 1]"),
            tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]"),
            tf.debugging.assert_greater_equal(
                temperature, 0.0, message="temperature must be >= 0 (0: greedy)"),
            tf.debugging.assert_equal(tf.math.is_finite(temperature), True,
                                      message="temperature must be finite"),
            tf.debugging.assert_greater_equal(top_k, 0,
                                              message="top_k must be >= 0 (0: no top-k cut)"),
            tf.debugging.assert_greater(num_beams, 0,
                                        message=f"num_beams must be in [1, {MAX_BEAMS}]"),
            tf.debugging.assert_less_equal(num_beams, MAX_BEAMS,
                                           message=f"num_beams must be in [1, {MAX_BEAMS}]"),
            tf.debugging.assert_greater_equal(
                no_repeat_ngram_size, 0,
                message=f"no_repeat_ngram_size must be in [0, {MAX_NO_REPEAT_NGRAM}]"),
            tf.debugging.assert_less_equal(
                no_repeat_ngram_size, MAX_NO_REPEAT_NGRAM,
                message=f"no_repeat_ngram_size must be in [0, {MAX_NO_REPEAT_NGRAM}]"),
        ]
        with tf.control_dependencies(checks):
            return self._check_text(context, CONTEXT)

    def _encode_context(self, context):
        return self.preprocessor.pack_contexts(context)

    def _generate(self, context, max_new_tokens, temperature, top_p, top_k, num_beams, seed,
                  no_repeat_ngram_size):
        max_new_tokens, temperature, top_p, top_k, num_beams, seed, no_repeat_ngram_size = (
            check_scalar(value, name) for (name, _), value in zip(_SCALARS, (
                max_new_tokens, temperature, top_p, top_k, num_beams, seed,
                no_repeat_ngram_size)))
        context = self._check(context, max_new_tokens, temperature, top_p, top_k, num_beams,
                              no_repeat_ngram_size)
        ids, mask = self._encode_context(context)
        hidden = self.model.call_encoder(ids, mask)
        tokens, lengths = self.decoder.decode(hidden, mask, max_new_tokens, temperature,
                                              top_p, top_k, num_beams, seed,
                                              use_cache=self.use_cache,
                                              encoder_token_ids=ids,
                                              no_repeat_ngram_size=no_repeat_ngram_size)
        return {REPLY: self.tokenizer.detokenize(tokens), TOKENS_GENERATED: lengths,
                TOKENS: tokens}

    # The decoding graph (6 sampler branches) is traced once, here; the
    # other signatures call this function instead of tracing their own copy.
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CONTEXT)]
                 + [tf.TensorSpec([], d, name=n) for n, d in _SCALARS])
    def generate_tokens(self, context, max_new_tokens, temperature, top_p, top_k,
                        num_beams, seed, no_repeat_ngram_size):
        """`generate` plus the raw `tokens` int32 `[B, max_new_tokens]` (for tests)."""
        return self._generate(context, max_new_tokens, temperature, top_p, top_k,
                              num_beams, seed, no_repeat_ngram_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CONTEXT)]
                 + [tf.TensorSpec([], d, name=n) for n, d in _SCALARS])
    def generate(self, context, max_new_tokens, temperature, top_p, top_k, num_beams, seed,
                 no_repeat_ngram_size):
        out = self.generate_tokens(context, max_new_tokens, temperature, top_p, top_k,
                                   num_beams, seed, no_repeat_ngram_size)
        return {REPLY: out[REPLY], TOKENS_GENERATED: out[TOKENS_GENERATED]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CONTEXT)])
    def serve(self, context):
        d = self.defaults
        out = self.generate_tokens(context, *(tf.constant(d[n], dt) for n, dt in _SCALARS))
        return {REPLY: out[REPLY], TOKENS_GENERATED: out[TOKENS_GENERATED]}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=CONTEXT),
                                  tf.TensorSpec([None], tf.string, name=REPLY)])
    def score(self, context, reply):
        """Teacher-forced log-likelihood of `reply` after `context`.

        Returns `nll` (float32 `[B]`, summed over the reply's tokens and its
        `[EOS]`) and `tokens` (int32 `[B]`); perplexity is
        `exp(sum(nll) / sum(tokens))`. Replies longer than the model's
        `reply_length - 1` tokens are cut.
        """
        context, reply = self._check_text(context, CONTEXT), self._check_text(reply, REPLY)
        same_batch = tf.debugging.assert_equal(
            tf.size(context), tf.size(reply),
            message="context and reply must hold the same number of strings")
        with tf.control_dependencies([same_batch]):
            context, reply = tf.identity(context), tf.identity(reply)
        ids, mask = self._encode_context(context)
        inputs, labels = self.preprocessor.pack_replies(reply)
        logits = self.model({"encoder_token_ids": ids, "encoder_padding_mask": mask,
                             "decoder_token_ids": inputs,
                             "decoder_padding_mask": tf.not_equal(inputs, 0)}, training=False)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        real = tf.cast(tf.not_equal(labels, 0), tf.float32)
        nll = -tf.reduce_sum(tf.gather(log_probs, labels, batch_dims=2) * real, axis=1)
        return {NLL: nll, TOKENS: tf.cast(tf.reduce_sum(real, axis=1), tf.int32)}

    def signatures(self) -> dict:
        return {chat_contract.DEFAULT_SIGNATURE: self.serve,
                chat_contract.GENERATE_SIGNATURE: self.generate,
                chat_contract.GENERATE_TOKENS_SIGNATURE: self.generate_tokens,
                chat_contract.SCORE_SIGNATURE: self.score}


SAMPLE_CONTEXTS = np.array([
    b"[USER] I'm looking for a bus to Fresno on March 3rd.",
    "[USER] Find me a restaurant in San Jose. [SYSTEM] What kind of food? "
    "[USER] Something Italian, caf\u00e9 style.".encode(),
])


def export_chat(model, tokenizer, *, base_dir: str = "saved_models", name: str = "chat",
                version: int | None = None, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                num_beams: int = 1, length_penalty_alpha: float = 0.6,
                no_repeat_ngram_size: int = DEFAULT_NO_REPEAT_NGRAM) -> str:
    """Exports the chat servable as a validated TF Serving version.

    The exporter reloads it in a fresh process (plain TensorFlow +
    tensorflow_text) and checks that greedy, sampled and beam replies match.

    Returns:
        The version folder written.
    """
    from lepton_tf.export import export_servable

    servable = ChatServable(model, tokenizer, max_new_tokens=max_new_tokens,
                            num_beams=num_beams, length_penalty_alpha=length_penalty_alpha,
                            no_repeat_ngram_size=no_repeat_ngram_size)
    ctx = SAMPLE_CONTEXTS

    def options(*values):
        return {CONTEXT: ctx, **{name: np.dtype(dtype).type(value) for (name, dtype), value in
                                 zip(chat_contract.GENERATE_OPTIONS, values)}}

    n = min(24, servable.max_new_tokens_limit)
    examples = {chat_contract.DEFAULT_SIGNATURE: {CONTEXT: ctx},
                chat_contract.GENERATE_SIGNATURE: options(n, 0.8, 0.9, 0, 1, 7,
                                                          DEFAULT_NO_REPEAT_NGRAM),
                chat_contract.GENERATE_TOKENS_SIGNATURE: options(n, 0.0, 1.0, 0, 3, 0, 0),
                chat_contract.SCORE_SIGNATURE: {
                    CONTEXT: ctx, REPLY: np.array([b"Where are you leaving from?",
                                                   b"How about Il Fornaio?"])}}
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples=examples, base_dir=base_dir, version=version, atol=1e-4)
