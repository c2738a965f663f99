"""Sends malformed string tensors to every signature of a SavedModel, with no
Python shape or dtype check in between: the signature's graph function is
called flat (`call_flat`), as the embedded server does and as TF Serving's
C++ `Session::Run` feeds a placeholder whatever shape a request carries.

Imports only TensorFlow and tensorflow-text (the ops TF Serving links), so a
crash here is a crash in TF Serving. Run as a script:

    python tests/signature_sweep.py SAVED_MODEL_DIR [FIRST_CASE]

It prints `CASE <n> <signature> <input> <label>` before each case and
`RESULT <n> <code> <message>` after it (`OK` when the signature answered),
so a parent process can tell which case killed it and resume after it.
"""

import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tf-text ops, as TF Serving links them)

SERVE = "serve"
# Ranks well past the ones that crashed ragged ops (17, 33, 35 were reported).
DEEP_RANKS = (6, 8, 17, 33, 35, 64)
MAX_RANK = 5


def string_cases():
    """(label, value) pairs for one string input; each must be refused or answered."""
    yield "rank0 scalar", np.array(b"hello", dtype=object)
    yield "rank0 empty scalar", np.array(b"", dtype=object)
    yield "empty batch [0]", np.zeros([0], dtype=object)
    yield "empty string [1]", np.array([b""], dtype=object)
    yield "blank string [1]", np.array([b"   "], dtype=object)
    yield "empty and text [2]", np.array([b"", b"hello"], dtype=object)
    for rank in range(2, MAX_RANK + 1):
        yield f"rank{rank} ones", np.full([1] * rank, b"hello", dtype=object)
    for rank in range(1, MAX_RANK + 1):
        for axis in range(rank):
            shape = [1] * rank
            shape[axis] = 0
            yield f"rank{rank} zero at axis {axis} {shape}", np.zeros(shape, dtype=object)
    for rank in DEEP_RANKS:
        yield f"rank{rank} ones (deep)", np.full([1] * rank, b"x", dtype=object)
    yield "invalid utf-8", np.array([b"caf\xc3 \xff\xfe bad"], dtype=object)
    yield "lone surrogate utf-8", np.array([b"\xed\xa0\x80 text"], dtype=object)
    yield "nul bytes", np.array([b"a\x00b\x00"], dtype=object)
    yield "1 MB string", np.array([b"word " * (1 << 18)], dtype=object)
    yield "dtype int64", np.array([1, 2], dtype=np.int64)
    yield "dtype float32", np.array([1.5], dtype=np.float32)
    yield "dtype int32 scalar", np.array(7, dtype=np.int32)
    yield "dtype bool [0]", np.zeros([0], dtype=bool)


# Cases a signature may answer (a long or odd but valid batch); every other
# case must be refused with INVALID_ARGUMENT.
MAY_ANSWER = ("nul bytes", "1 MB string", "empty string [1]", "blank string [1]",
              "empty and text [2]", "invalid utf-8", "lone surrogate utf-8")
# Each signature's first case: a valid request, which must be answered.
VALID = "valid batch"


def other_cases(dtype):
    """(label, value) pairs of wrong shapes for a non-string (scalar) input."""
    numpy_dtype = tf.dtypes.as_dtype(dtype).as_numpy_dtype
    yield "scalar as [0]", np.zeros([0], dtype=numpy_dtype)
    yield "scalar as [2]", np.ones([2], dtype=numpy_dtype)
    yield "scalar as [1, 0]", np.zeros([1, 0], dtype=numpy_dtype)
    yield "scalar as rank33", np.ones([1] * 33, dtype=numpy_dtype)
    yield "scalar as string", np.array(b"1", dtype=object)


# The chat options' values in a valid request.
OPTIONS = {"max_new_tokens": 4, "temperature": 0.0, "top_p": 1.0, "top_k": 0,
           "num_beams": 1, "seed": 0, "no_repeat_ngram_size": 0}


def valid_value(key, info):
    """A value the signature accepts for input `key` (a text, or a chat option)."""
    dtype = tf.dtypes.as_dtype(info.dtype)
    rank = len(info.tensor_shape.dim)
    if dtype == tf.string:
        return np.full([1] * rank, b"hello there", dtype=object)
    if key in OPTIONS:
        return np.array(OPTIONS[key], dtype=dtype.as_numpy_dtype)
    return np.ones([1] * rank, dtype=dtype.as_numpy_dtype)


def cases(meta_graph):
    """Every (signature, input, label, feed) of a meta graph, in a fixed order."""
    for sig_name in sorted(meta_graph.signature_def):
        if sig_name.startswith("__"):
            continue
        sig = meta_graph.signature_def[sig_name]
        string_inputs = sorted(k for k, v in sig.inputs.items() if v.dtype == tf.string.as_datatype_enum)
        yield sig_name, "-", VALID, {k: valid_value(k, sig.inputs[k]) for k in sig.inputs}
        for swept in string_inputs:
            for label, value in string_cases():
                feed = {k: (value if k == swept else valid_value(k, sig.inputs[k]))
                        for k in sig.inputs}
                yield sig_name, swept, label, feed
        if len(string_inputs) > 1:  # batches of different sizes
            feed = {k: valid_value(k, sig.inputs[k]) for k in sig.inputs}
            feed[string_inputs[0]] = np.array([b"one", b"two"], dtype=object)
            yield sig_name, string_inputs[0], "batch size differs from the other input", feed
        for swept in sorted(k for k, v in sig.inputs.items()
                            if v.dtype != tf.string.as_datatype_enum):
            for label, value in other_cases(sig.inputs[swept].dtype):
                feed = {k: (value if k == swept else valid_value(k, sig.inputs[k]))
                        for k in sig.inputs}
                yield sig_name, swept, label, feed


def main(path, first=0):
    loaded = tf.saved_model.load(path, tags=[SERVE])
    meta_graph = read_meta_graph(path)
    for number, (sig_name, swept, label, feed) in enumerate(cases(meta_graph)):
        if number < first:
            continue
        print(f"CASE {number} {sig_name} {swept} {label}", flush=True)
        fn = loaded.signatures[sig_name]
        keys = [k.decode() if isinstance(k, bytes) else k for k in fn._arg_keywords]
        try:
            args = [tensor(feed[k]) for k in keys]
            fn._inference_function.call_flat(*args, *fn.captured_inputs)
            code, message = "OK", ""
        except tf.errors.OpError as e:
            code = type(e).__name__
            message = e.message.splitlines()[0][:200] if e.message else ""
        print(f"RESULT {number} {code} {message}", flush=True)
    print("DONE", flush=True)


def tensor(value):
    """`tf.constant(value)`; a string array deeper than 32 goes in flat and is
    reshaped, since TensorFlow's numpy conversion crashes on it (the servers
    do the same: `lepton_tf.server.tensors.to_tensor`)."""
    if value.dtype == object and value.ndim > 32:
        return tf.reshape(tf.constant(value.reshape(-1)), value.shape)
    return tf.constant(value)


def read_meta_graph(path):
    """The `serve` MetaGraphDef of a SavedModel (its signature_defs)."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(f"{path}/saved_model.pb", "rb") as f:
        model.ParseFromString(f.read())
    return next(m for m in model.meta_graphs if SERVE in m.meta_info_def.tags)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
