"""Reload an export in a fresh process and compare it with the Keras model.

The child process imports only `tensorflow` and `tensorflow_text` (the ops
stock TF Serving links), never `lepton_tf` or `keras_hub`: an export that
needs our Python code to load would fail in production, and this catches it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf


class ExportValidationError(RuntimeError):
    """The reloaded SavedModel failed to load or answered differently."""


_CHILD = r"""
import base64, json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops, as TF Serving links them
from tensorflow.core.framework import tensor_pb2

def decode(b64):
    proto = tensor_pb2.TensorProto.FromString(base64.b64decode(b64))
    return tf.constant(tf.make_ndarray(proto))

request = json.load(open(sys.argv[2]))
loaded = tf.saved_model.load(sys.argv[1])
answers = {}
for signature, inputs in request.items():
    fn = loaded.signatures[signature]
    outputs = fn(**{k: decode(v) for k, v in inputs.items()})
    answers[signature] = {
        k: base64.b64encode(tf.make_tensor_proto(v.numpy()).SerializeToString()).decode()
        for k, v in outputs.items()}
json.dump({"outputs": answers,
           "imported_lepton": any(m.startswith(("lepton_tf", "keras_hub"))
                                  for m in sys.modules)}, open(sys.argv[3], "w"))
"""


def _encode(value) -> str:
    return base64.b64encode(tf.make_tensor_proto(value).SerializeToString()).decode()


def _decode(b64: str) -> np.ndarray:
    from tensorflow.core.framework import tensor_pb2
    return tf.make_ndarray(tensor_pb2.TensorProto.FromString(base64.b64decode(b64)))


def run_in_fresh_process(export_dir: str, examples: dict[str, dict[str, np.ndarray]],
                         timeout: float = 600) -> dict[str, dict[str, np.ndarray]]:
    """Runs each signature of a SavedModel in a new Python process.

    Args:
        export_dir: SavedModel folder.
        examples: signature name -> input name -> batch.
        timeout: seconds before the child is killed.

    Returns:
        signature name -> output name -> numpy array.

    Raises:
        ExportValidationError: if the child fails, with its stderr.
    """
    with tempfile.TemporaryDirectory(prefix="lepton-validate-") as tmp:
        request = os.path.join(tmp, "request.json")
        answer = os.path.join(tmp, "answer.json")
        with open(request, "w") as f:
            json.dump({s: {k: _encode(v) for k, v in inputs.items()}
                       for s, inputs in examples.items()}, f)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run([sys.executable, "-c", _CHILD, export_dir, request, answer],
                              capture_output=True, text=True, timeout=timeout, env=env)
        if proc.returncode != 0:
            raise ExportValidationError(
                f"The export at {export_dir} does not load and run in plain "
                f"TensorFlow + tensorflow_text:\n{proc.stderr[-4000:]}")
        with open(answer) as f:
            result = json.load(f)
    if result["imported_lepton"]:
        raise ExportValidationError("Loading the export imported lepton_tf or keras_hub.")
    return {s: {k: _decode(v) for k, v in outs.items()}
            for s, outs in result["outputs"].items()}


def compare_outputs(expected: dict[str, dict[str, np.ndarray]],
                    actual: dict[str, dict[str, np.ndarray]], *,
                    atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Checks two signature -> output -> array maps agree.

    Floats must agree within `atol`/`rtol`; integers, booleans and strings
    exactly.

    Raises:
        ExportValidationError: naming the signature and output that differ.
    """
    for signature, outputs in expected.items():
        got = actual.get(signature, {})
        missing = sorted(set(outputs) - set(got))
        if missing:
            raise ExportValidationError(f"{signature}: reloaded model lacks outputs {missing}.")
        for key, want in outputs.items():
            want, have = np.asarray(want), np.asarray(got[key])
            where = f"signature {signature!r} output {key!r}"
            if want.shape != have.shape:
                raise ExportValidationError(
                    f"{where}: shape {have.shape} after reload, {want.shape} before.")
            if want.dtype.kind == "f":
                if not np.allclose(want, have, atol=atol, rtol=rtol):
                    diff = float(np.max(np.abs(want - have)))
                    raise ExportValidationError(
                        f"{where}: max abs difference {diff:.3g} after reload "
                        f"(allowed {atol}).")
            elif not np.array_equal(want, have):
                raise ExportValidationError(f"{where}: values differ after reload.")
