"""In-graph autoregressive decoding for `ChatModel`, driven by keras-hub samplers.

Decoding keeps a key/value cache for decoder self-attention and computes the
cross-attention keys/values of the encoder output once per request (as
`keras_hub.models.BartSeq2SeqLM.generate_step` does). Unlike keras-hub's
`Seq2SeqLM.generate()`, everything here is a pure function of tensors, so it
traces inside a `tf.function` and saves to a SavedModel that reloads with
plain TensorFlow (no keras-hub, no lepton_tf).

Decoding options arrive as tensors (the servable's `generate` inputs), so:
- `temperature`, `top_k` and `top_p` are tensors set on the samplers;
- the seed is stateless: the token drawn at step `i` uses the seed
  `(seed, i)`, so one request gives the same reply whatever ran before it
  and concurrent requests do not race on a shared seed variable (keras-hub
  samplers otherwise keep a `SeedGenerator` variable);
- `num_beams` picks one of `MAX_BEAMS - 1` traced beam-search branches,
  because `BeamSampler` needs a Python int.
The decoder math is `chat_step.DecoderWeights` (plain TF ops, weights read
once per request). Nothing in the exported graph needs XLA: keras-hub's
samplers write each new token with `ops.slice_update`, which the TF backend
lowers to `XlaDynamicUpdateSlice`, an op TensorFlow only runs by compiling it
with XLA on demand, and a stock TF Serving model server (no
`--xla_cpu_compilation_enabled`) fails such requests with "XLA compilation
disabled". While the samplers are traced here, `ops.slice_update` in their
modules is swapped for a `tf.where` of the same result (`_stock_tf_ops`).
keras-hub 0.32's `BeamSampler` has no length penalty and keeps extending
beams after `[EOS]`; here a finished beam can only continue with `[PAD]` at
no cost, and the returned beam is chosen with the GNMT length penalty
`((5 + length) / 6) ** alpha`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import types

import keras
import tensorflow as tf
from keras_hub.samplers import BeamSampler, GreedySampler, TopKSampler, TopPSampler
from keras_hub.src.samplers import beam_sampler as _beam_module
from keras_hub.src.samplers import sampler as _sampler_module
from keras_hub.src.samplers.sampler import Sampler

from lepton_tf.text.chat_format import BOS_ID, EOS_ID, PAD_ID
from lepton_tf.models.chat_step import DecoderWeights
from lepton_tf.models.no_repeat import ban_repeated_ngrams

MAX_BEAMS = 4
_NEG_INF = -1e9
_PATCH_LOCK = threading.RLock()


def _row_slice_update(inputs, start_indices, updates):
    """`keras.ops.slice_update` for the samplers' use (`[B, T]` prompt, start
    `[0, index]`, whole rows of `updates`) without `XlaDynamicUpdateSlice`;
    anything else goes to keras."""
    start = list(start_indices)
    if (len(start) != 2 or not isinstance(start[0], int) or start[0] != 0
            or getattr(inputs, "shape", None) is None or inputs.shape.rank != 2):
        return keras.ops.slice_update(inputs, start_indices, updates)
    updates = tf.cast(updates, inputs.dtype)
    width = tf.shape(updates)[1]
    cols = tf.range(tf.shape(inputs)[1]) - tf.cast(start[1], tf.int32)
    hit = (cols >= 0) & (cols < width)
    taken = tf.gather(updates, tf.clip_by_value(cols, 0, width - 1), axis=1)
    return tf.where(hit[None, :], taken, inputs)


@contextlib.contextmanager
def _stock_tf_ops():
    """Traces keras-hub samplers with `_row_slice_update` in place of
    `ops.slice_update` (their modules' `ops` name; restored on exit)."""
    proxy = types.SimpleNamespace(**{n: getattr(keras.ops, n) for n in dir(keras.ops)
                                     if not n.startswith("__")})
    proxy.slice_update = _row_slice_update
    with _PATCH_LOCK:
        saved = _sampler_module.ops, _beam_module.ops
        _sampler_module.ops = _beam_module.ops = proxy
        try:
            yield
        finally:
            _sampler_module.ops, _beam_module.ops = saved


class _StepSeed(keras.random.SeedGenerator):
    """A `SeedGenerator` look-alike giving the stateless seed `(seed, step)`.

    It holds no variable (the base `__init__` that makes one is skipped on
    purpose); `step` is set to the loop index by the decoding step function
    while the loop body is traced, just before the sampler draws.
    """

    def __init__(self, seed):  # noqa: D107 - no super().__init__: no variable
        self.seed = tf.cast(seed, tf.int32)
        self.step = tf.constant(0, tf.int32)

    def next(self, ordered=True):
        return tf.stack([self.seed, tf.cast(self.step, tf.int32)])


class SeededTopKSampler(TopKSampler):
    """keras-hub's `TopKSampler` with a tensor `k` and a per-request seed."""

    def __init__(self, k, seed, temperature=1.0):
        Sampler.__init__(self, temperature=temperature)  # skips the seed variable
        self.k, self.seed = k, seed
        self.seed_generator = _StepSeed(seed)


class SeededTopPSampler(TopPSampler):
    """keras-hub's `TopPSampler` with tensor `p` / `k` and a per-request seed."""

    def __init__(self, p, k, seed, temperature=1.0):
        Sampler.__init__(self, temperature=temperature)
        self.p, self.k, self.seed = p, k, seed
        self.seed_generator = _StepSeed(seed)


def _first_eos_lengths(tokens):
    """Tokens up to and including the first `[EOS]` per row (all if none)."""
    is_eos = tf.cast(tf.equal(tokens, EOS_ID), tf.int32)
    seen = tf.math.cumsum(is_eos, axis=1, exclusive=True) > 0
    return tf.reduce_sum(tf.cast(~seen, tf.int32), axis=1)


def clean_tokens(tokens):
    """Cuts each row after its first `[EOS]` (the loop keeps writing there).

    Args:
        tokens: int32 `[B, T]` generated tokens (no `[BOS]`).

    Returns:
        `(tokens, lengths)`: tokens with everything after the first `[EOS]`
        set to `[PAD]`, and int32 `[B]` lengths counting that `[EOS]`.
    """
    lengths = _first_eos_lengths(tokens)
    keep = tf.sequence_mask(lengths, tf.shape(tokens)[1])
    return tf.where(keep, tokens, tf.zeros_like(tokens) + PAD_ID), lengths


def length_penalty(lengths, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _static_mode(temperature, top_p, top_k, num_beams):
    """The branch `ChatDecoder.decode` takes, when all options are Python
    numbers (tests, in-process use), else None (decided in the graph)."""
    if not all(isinstance(v, (int, float)) for v in (temperature, top_p, top_k, num_beams)):
        return None
    if num_beams > 1:
        return 1 + min(num_beams, MAX_BEAMS)
    if temperature <= 0 or top_k == 1:
        return 0
    return 1 if top_p < 1 else 2


class ChatDecoder:
    """Greedy, top-k, top-p and beam decoding of a `ChatModel`, in the graph.

    Example:

    >>> decoder = ChatDecoder(model)                    # doctest: +SKIP
    >>> hidden = model.call_encoder(ids, ids != 0)      # doctest: +SKIP
    >>> tokens, lengths = decoder.decode(hidden, ids != 0, max_new_tokens=20,
    ...                                  encoder_token_ids=ids)  # doctest: +SKIP

    (Skipped in the doctests: it needs a trained `ChatModel`.)

    Args:
        model: a built `ChatModel`.
        length_penalty_alpha: beam-search length penalty exponent (0: none).
        stop_at_eos: stop once every row has produced `[EOS]` (benchmarks
            turn it off to decode exactly `max_new_tokens`).
    """

    def __init__(self, model, length_penalty_alpha: float = 0.6, stop_at_eos: bool = True):
        self.model = model
        self.alpha = float(length_penalty_alpha)
        self.stop_token_ids = (EOS_ID,) if stop_at_eos else None

    # -- step functions: (prompt, cache, index) -> (logits, hidden, cache) --

    def _cached_step(self, weights, seed_gen=None, finish_beams=False, no_repeat=None):
        def step(prompt, cache, index):
            self_cache, cross_cache, encoder_bias, copy_memory = cache
            if seed_gen is not None:
                seed_gen.step = index
            # Feed only the previous token; the cache holds the keys/values
            # of everything before it.
            logits, self_cache = weights.cached_step(
                prompt[:, index - 1], index - 1, self_cache, cross_cache, encoder_bias,
                copy_memory)
            if no_repeat is not None:
                logits = ban_repeated_ngrams(prompt, index, logits, no_repeat)
            if finish_beams:
                logits = self._freeze_finished(prompt, index, logits)
            return logits, None, (self_cache, cross_cache, encoder_bias, copy_memory)

        return step

    def _uncached_step(self, weights, seed_gen=None, finish_beams=False, no_repeat=None):
        def step(prompt, cache, index):
            hidden, encoder_bias, copy_memory = cache
            if seed_gen is not None:
                seed_gen.step = index
            # The baseline: rerun the decoder on the whole prefix each step.
            logits = weights.uncached_logits(hidden, encoder_bias, prompt[:, :index],
                                             copy_memory)
            if no_repeat is not None:
                logits = ban_repeated_ngrams(prompt, index, logits, no_repeat)
            if finish_beams:
                logits = self._freeze_finished(prompt, index, logits)
            return logits, None, cache

        return step

    @staticmethod
    def _freeze_finished(prompt, index, logits):
        """After `[EOS]` a beam may only add `[PAD]`, at log-probability 0."""
        done = tf.reduce_any(tf.equal(prompt[:, 1:index], EOS_ID), axis=1)
        pad_only = tf.where(tf.range(tf.shape(logits)[-1]) == PAD_ID, 0.0, _NEG_INF)
        return tf.where(done[:, None], pad_only[None, :], logits)

    def _prepare(self, weights, hidden, mask, ids, max_new_tokens, use_cache):
        batch = tf.shape(hidden)[0]
        prompt = tf.concat([tf.fill([batch, 1], BOS_ID),
                            tf.fill([batch, max_new_tokens], PAD_ID)], axis=1)
        encoder_bias = weights.encoder_bias(mask)
        copy_memory = weights.copy_memory(hidden, ids, mask) if ids is not None else ()
        if not use_cache:
            return prompt, (hidden, encoder_bias, copy_memory)
        # Cross-attention keys/values are computed here, once per request.
        self_cache, cross_cache = weights.init_cache(hidden, max_new_tokens + 1)
        return prompt, (self_cache, cross_cache, encoder_bias, copy_memory)

    def decode(self, encoder_hidden_states, encoder_padding_mask, max_new_tokens,
               temperature=0.0, top_p=1.0, top_k=0, num_beams=1, seed=0,
               use_cache=True, encoder_token_ids=None, no_repeat_ngram_size=0):
        """Generates reply tokens.

        The method: `num_beams > 1` -> beam search (temperature, top-k,
        top-p and seed are ignored); else `temperature == 0` or `top_k == 1`
        -> greedy; else `top_p < 1` -> nucleus sampling (within the `top_k`
        best when `top_k > 0`); else top-k sampling (`top_k == 0`: the whole
        vocabulary). Inputs are assumed valid (the servable checks them).

        Args:
            encoder_hidden_states: `[B, S, H]` from `ChatModel.call_encoder`.
            encoder_padding_mask: bool `[B, S]`.
            max_new_tokens: int scalar, tokens to generate at most.
            temperature, top_p, top_k, num_beams, seed: scalars (tensors or
                Python numbers).
            use_cache: False recomputes the whole prefix every step (the
                benchmark's baseline; same tokens, slower).
            encoder_token_ids: int `[B, S]` context ids, which a model with a
                copy head needs (it copies them).
            no_repeat_ngram_size: no n-gram of this size twice in a reply
                (`models.no_repeat`; a tensor or int, `<= 0` or Python 0: off).

        Returns:
            `(tokens, lengths)`: int32 `[B, max_new_tokens]` (`[PAD]` after
            the first `[EOS]`) and int32 `[B]` tokens generated per row,
            counting the `[EOS]`.
        """
        static_mode = _static_mode(temperature, top_p, top_k, num_beams)
        max_new_tokens = tf.cast(max_new_tokens, tf.int32)
        temperature = tf.cast(temperature, tf.float32)
        top_p = tf.cast(top_p, tf.float32)
        top_k = tf.cast(top_k, tf.int32)
        num_beams = tf.cast(num_beams, tf.int32)
        seed = tf.cast(seed, tf.int32)
        vocab = self.model.vocabulary_size
        weights = DecoderWeights(self.model)  # read once, outside the loop
        if weights.copy is not None and encoder_token_ids is None:
            raise ValueError("this ChatModel has a copy head: pass encoder_token_ids")
        prompt, cache = self._prepare(weights, encoder_hidden_states, encoder_padding_mask,
                                      encoder_token_ids, max_new_tokens, use_cache)
        no_repeat = None if isinstance(no_repeat_ngram_size, int) and no_repeat_ngram_size <= 0 \
            else tf.cast(no_repeat_ngram_size, tf.int32)
        make_step = functools.partial(
            self._cached_step if use_cache else self._uncached_step, weights,
            no_repeat=no_repeat)
        prompt_mask = tf.concat([tf.ones_like(prompt[:, :1], tf.bool),
                                 tf.zeros_like(prompt[:, 1:], tf.bool)], axis=1)
        stop = self.stop_token_ids

        def run(sampler, seed_gen=None):
            with _stock_tf_ops():
                out = sampler(make_step(seed_gen), prompt, cache=cache, index=1,
                              mask=prompt_mask, stop_token_ids=stop)
            return tf.cast(out[:, 1:], tf.int32)

        def greedy():
            return run(GreedySampler())

        safe_t = tf.maximum(temperature, 1e-6)
        k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)

        def nucleus():
            s = SeededTopPSampler(top_p, k, seed, temperature=safe_t)
            return run(s, s.seed_generator)

        def top_k_sampling():
            s = SeededTopKSampler(k, seed, temperature=safe_t)
            return run(s, s.seed_generator)

        def beam(n):
            def branch():
                sampler = BeamSampler(num_beams=n, return_all_beams=True)
                with _stock_tf_ops():
                    beams, log_probs = sampler(make_step(finish_beams=True), prompt,
                                               cache=cache, index=1, mask=prompt_mask,
                                               stop_token_ids=stop)
                beams = tf.cast(beams[:, :, 1:], tf.int32)  # [B, n, T]
                lengths = _first_eos_lengths(tf.reshape(beams, [-1, tf.shape(beams)[2]]))
                scores = log_probs / tf.reshape(length_penalty(lengths, self.alpha),
                                                tf.shape(log_probs))
                best = tf.argmax(scores, axis=1, output_type=tf.int32)
                return tf.gather(beams, best, batch_dims=1)
            return branch

        branches = [greedy, nucleus, top_k_sampling] + [beam(n) for n in range(2, MAX_BEAMS + 1)]
        if static_mode is not None:  # options known when tracing: one branch only
            return clean_tokens(branches[static_mode]())
        sampling = tf.where(top_p < 1.0, 1, 2)
        mode = tf.where((temperature <= 0.0) | (top_k == 1), 0, sampling)
        mode = tf.where(num_beams > 1, 1 + num_beams, mode)  # 3 .. MAX_BEAMS + 1
        tokens = tf.switch_case(tf.clip_by_value(mode, 0, len(branches) - 1), branches)
        tokens = tf.ensure_shape(tokens, [None, None])
        return clean_tokens(tokens)
