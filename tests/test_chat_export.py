"""The exported `chat` servable: same tokens as Keras, every sampler through the
`generate` signature, clear errors on bad input, plain-TF loading."""

import numpy as np
import pytest
import tensorflow as tf

from chat_fixtures import CONTEXTS, SIZES, reference_greedy, tiny_model, tokenizer
from lepton_tf.export.chat_servable import export_chat

LIMIT = SIZES["max_length"] - 1


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(Keras model, loaded SavedModel); the export is validated in a fresh
    process with only tensorflow + tensorflow_text imported."""
    model = tiny_model(seed=5, copy_attention=True)  # as shipped (configs/chat_grounded.yaml)
    path = export_chat(model, tokenizer(), base_dir=str(tmp_path_factory.mktemp("models")),
                       max_new_tokens=10)
    return model, tf.saved_model.load(path), path


def _generate(loaded, contexts=CONTEXTS, n=10, t=0.0, p=1.0, k=0, beams=1, seed=0,
              signature="generate_tokens", no_repeat=0):
    return loaded.signatures[signature](
        context=tf.constant(contexts), max_new_tokens=tf.constant(n, tf.int32),
        temperature=tf.constant(t, tf.float32), top_p=tf.constant(p, tf.float32),
        top_k=tf.constant(k, tf.int32), num_beams=tf.constant(beams, tf.int32),
        seed=tf.constant(seed, tf.int32), no_repeat_ngram_size=tf.constant(no_repeat))


def test_exported_greedy_equals_keras_decode(exported):
    model, loaded, _ = exported
    out = _generate(loaded, n=SIZES["reply_length"])
    expected = reference_greedy(model, CONTEXTS, SIZES["reply_length"])
    np.testing.assert_array_equal(out["tokens"].numpy(), expected)
    np.testing.assert_array_equal(out["tokens_generated"].numpy(),
                                  [(np.flatnonzero(r == 3)[:1] + 1).tolist()[0]
                                   if (r == 3).any() else len(r) for r in expected])
    default = loaded.signatures["serving_default"](context=tf.constant(CONTEXTS))
    assert default["reply"].dtype == tf.string and default["reply"].shape == (2,)
    # serving_default: greedy with the default no-repeat 3-gram constraint.
    np.testing.assert_array_equal(default["reply"].numpy(),
                                  _generate(loaded, no_repeat=3)["reply"].numpy())


def _repeats(row, n=3):
    row = [t for t in row.tolist() if t not in (0, 3)]  # [PAD], [EOS]
    grams = [tuple(row[i:i + n]) for i in range(len(row) - n + 1)]
    return len(grams) - len(set(grams))


@pytest.mark.parametrize("options", [dict(), dict(beams=3), dict(t=1.0, k=5, seed=3)])
def test_no_repeat_ngram_size_stops_loops(exported, options):
    """The tiny random model loops; with no_repeat_ngram_size=3 no token 3-gram
    comes twice, whatever the decoding method."""
    _, loaded, _ = exported
    contexts = CONTEXTS * 4
    n = SIZES["reply_length"]
    free = _generate(loaded, contexts, n=n, **options)["tokens"].numpy()
    capped = _generate(loaded, contexts, n=n, no_repeat=3, **options)["tokens"].numpy()
    assert sum(_repeats(r) for r in free) > 0  # the constraint has something to stop
    assert [_repeats(r) for r in capped] == [0] * len(contexts)


@pytest.mark.parametrize("options", [dict(t=1.0, k=20), dict(t=0.7, p=0.9),
                                     dict(t=1.0, p=0.5, k=50), dict(beams=2), dict(beams=4)])
def test_sampler_options_through_generate(exported, options):
    _, loaded, _ = exported
    first = _generate(loaded, signature="generate", seed=11, **options)
    again = _generate(loaded, signature="generate", seed=11, **options)
    assert first["reply"].shape == (2,)
    lengths = first["tokens_generated"].numpy()
    assert ((lengths >= 1) & (lengths <= 10)).all()
    # Stateless seeds: the same request gives the same reply.
    np.testing.assert_array_equal(first["reply"].numpy(), again["reply"].numpy())


def test_seed_changes_samples(exported):
    _, loaded, _ = exported
    replies = {tuple(_generate(loaded, t=1.0, seed=s)["tokens"].numpy().ravel())
               for s in range(4)}
    assert len(replies) > 1


@pytest.mark.parametrize("change,message", [
    (dict(contexts=["  "]), "context must not hold an empty or blank string"),
    (dict(contexts=[""]), "context must not hold an empty or blank string"),
    (dict(contexts=[b"[USER] caf\xe9 \xff"]), "context must be valid UTF-8"),
    (dict(n=0), "max_new_tokens must be in [1, "),
    (dict(n=LIMIT + 1), f"max_new_tokens must be in [1, {LIMIT}]"),
    (dict(p=0.0), "top_p must be in (0, 1]"),
    (dict(p=1.5), "top_p must be in (0, 1]"),
    (dict(t=-1.0), "temperature must be >= 0"),
    (dict(k=-2), "top_k must be >= 0"),
    (dict(beams=0), "num_beams must be in [1, 4]"),
    (dict(beams=9), "num_beams must be in [1, 4]"),
    (dict(no_repeat=-1), "no_repeat_ngram_size must be in [0, 6]"),
    (dict(no_repeat=7), "no_repeat_ngram_size must be in [0, 6]"),
])
def test_bad_inputs_give_clear_errors(exported, change, message):
    _, loaded, _ = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=__import__("re").escape(message)):
        _generate(loaded, **change)


def test_long_context_is_clamped_not_an_error(exported):
    _, loaded, _ = exported
    huge = "[USER] " + "I need a bus to Fresno please. " * 3500  # ~100 kB
    out = _generate(loaded, contexts=[huge, "hi"], n=4, k=100000)  # top_k above vocab: clamp
    assert out["tokens"].shape == (2, 4)


def test_loads_in_plain_tensorflow(exported, run_python):
    _, _, path = exported
    proc = run_python(
        "import sys, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({path!r})\n"
        "r = m.signatures['serving_default'](context=tf.constant(['[USER] hi']))\n"
        "s = m.signatures['score'](context=tf.constant(['[USER] hi']), reply=tf.constant(['Hello']))\n"
        "assert r['reply'].shape == (1,) and s['tokens'].numpy()[0] == 2\n"
        "assert not any(k.startswith(('lepton_tf', 'keras_hub')) for k in sys.modules)\n")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_runs_with_xla_compilation_disabled(exported, run_python):
    """Stock TF Serving calls `tensorflow::DisableXlaCompilation()` unless started
    with `--xla_cpu_compilation_enabled`; then any op needing XLA (e.g.
    `XlaDynamicUpdateSlice`, compiled on demand) fails the request. Same here,
    through the same C++ function, for every sampler."""
    _, _, path = exported
    proc = run_python(
        "import ctypes, os, tensorflow as tf, tensorflow_text\n"
        "lib = ctypes.CDLL(os.path.join(os.path.dirname(tf.__file__), 'libtensorflow_cc.so.2'))\n"
        "lib._ZN10tensorflow21DisableXlaCompilationEv()\n"
        f"m = tf.saved_model.load({path!r})\n"
        "ctx = tf.constant(['[USER] I need a bus to Fresno.', 'hi'])\n"
        "m.signatures['serving_default'](context=ctx)\n"
        "for t, p, k, b in [(0., 1., 0, 1), (.8, .9, 0, 1), (.8, 1., 5, 1), (0., 1., 0, 3)]:\n"
        "    m.signatures['generate'](context=ctx, max_new_tokens=tf.constant(6),\n"
        "        temperature=tf.constant(t), top_p=tf.constant(p), top_k=tf.constant(k),\n"
        "        num_beams=tf.constant(b), seed=tf.constant(1),\n"
        "        no_repeat_ngram_size=tf.constant(3))\n")
    assert proc.returncode == 0, proc.stderr[-2000:]
    graph = tf.saved_model.load(path).signatures["generate"].graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function
                                        for n in f.node_def}
    assert not [op for op in ops if op.startswith("Xla")]


def test_model_rebuilt_from_the_saved_model_has_its_weights(exported):
    """What re-exporting the shipped chat/3 relies on (its Keras weights are not kept)."""
    from lepton_tf.tasks.chat_restore import restore_from_saved_model

    model, loaded, path = exported
    rebuilt = tiny_model(seed=99, copy_attention=True)  # other random weights
    restore_from_saved_model(rebuilt, path)
    for a, b in zip(model.weights, rebuilt.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(reference_greedy(rebuilt, CONTEXTS, 8),
                                  reference_greedy(model, CONTEXTS, 8))
    with pytest.raises((AssertionError, ValueError)):
        restore_from_saved_model(tiny_model(seed=1, hidden_dim=32, copy_attention=True), path)
