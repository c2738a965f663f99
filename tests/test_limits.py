"""Bounded work: request limits from TensorProto headers, per-model config,
sliced execution under the deadline, REST timeouts, one-line truncated errors."""

import json
import threading
import time

import grpc
import numpy as np
import pytest
import requests
from tensorflow.core.framework import tensor_pb2, types_pb2

from conftest import free_port
from fake_servables import FakeChat
from lepton_tf.server import deadline, limits
from lepton_tf.server.errors import ServingError, one_line
from lepton_tf.server.servable import Servable, Signature, TensorSpec


class Rows(Servable):
    """`x` [None] float -> `y` = x + 1, counting runs; sleeps `pause` s per run."""

    def __init__(self, pause=0.0):
        self.name, self.version, self.pause, self.runs = "rows", 1, pause, []
        spec = TensorSpec("x", "float32", (None,))
        self._signatures = {"serving_default": Signature({"x": spec}, {"y": spec})}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        self.runs.append(len(inputs["x"]))
        time.sleep(self.pause)
        return {"y": inputs["x"] + 1}


def _proto(dtype, dims, **values):
    proto = tensor_pb2.TensorProto(dtype=dtype, **values)
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    return proto


@pytest.mark.parametrize("proto, text", [
    (_proto(types_pb2.DT_QINT8, [1], int_val=[1]), "DT_QINT8 tensors are not accepted"),
    (_proto(types_pb2.DT_RESOURCE, [1]), "DT_RESOURCE tensors are not accepted"),
    (_proto(999, [1]), "999 tensors are not accepted"),
    (_proto(types_pb2.DT_STRING, [1] * 65), "rank 65 is more than the maximum of 64"),
    (_proto(types_pb2.DT_STRING, [0, 2**62]), "max_tensor_bytes"),
    (_proto(types_pb2.DT_FLOAT, [-3]), "negative dimension"),
    (_proto(types_pb2.DT_STRING, [100_000], string_val=[b"x" * 40]),
     "100000 rows, more than the maximum batch size of 8192 for model rows (max_batch_size)"),
    (_proto(types_pb2.DT_DOUBLE, [1, 2**27], double_val=[1.0]),
     "expand to 1073741824 bytes, more than the maximum of 268435456"),
])
def test_protos_are_refused_from_their_headers(proto, text):
    with pytest.raises(ServingError) as info:
        limits.check_protos(limits.attach(Rows(), limits.Limits()), {"x": proto})
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.message.startswith("tensor parsing error: x") and text in info.value.message


def test_large_batches_run_in_slices_and_stop_at_the_deadline():
    servable = limits.attach(Rows(pause=0.2), limits.Limits(max_execution_batch_size=2))
    x = np.arange(6, dtype=np.float32)
    out = limits.run_bounded(servable, {"x": x}, lambda part: servable.run("", part))
    np.testing.assert_array_equal(out["y"], x + 1)
    assert servable.runs == [2, 2, 2]
    servable.runs.clear()
    start = time.monotonic()
    with deadline.scope(0.3), pytest.raises(ServingError) as info:
        limits.run_bounded(servable, {"x": x}, lambda part: servable.run("", part))
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    # The first slice (0.2 s) ends with 0.1 s left: the second would end past the deadline
    # (its learned cost is 0.2 s), so it is refused at once instead of computed late.
    assert servable.runs == [2] and time.monotonic() - start < 0.3
    cancelled = threading.Event()
    cancelled.set()
    with deadline.scope(None, cancelled), pytest.raises(ServingError) as info:
        limits.run_bounded(servable, {"x": x}, lambda part: servable.run("", part))
    assert info.value.code == grpc.StatusCode.CANCELLED


def test_limits_file_per_model(tmp_path):
    path = tmp_path / "limits.json"
    path.write_text(json.dumps({"default": {"max_batch_size": 100},
                                "models": {"chat": {"max_execution_batch_size": 8}}}))
    loaded = limits.RequestLimits.load(str(path), limits.Limits(max_tensor_bytes=1000))
    assert loaded.for_model("chat") == limits.Limits(100, 1000, 8)
    assert loaded.for_model("other") == limits.Limits(100, 1000, 0)
    path.write_text(json.dumps({"models": {"chat": {"max_rows": 8}}}))
    with pytest.raises(ValueError, match="limit keys"):
        limits.RequestLimits.load(str(path))


def test_server_applies_limits_and_rest_deadline(tmp_path):
    from lepton_tf.server.app import ModelServer, ServerOptions

    path = tmp_path / "limits.yaml"
    path.write_text("models:\n  chat:\n    max_batch_size: 4\n")
    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), max_batch_size=50,
                                    request_limits_file=str(path), rest_api_timeout_in_ms=200),
                      python_servables={"chat": FakeChat(), "rows": Rows()}).start()
    try:
        url = f"http://127.0.0.1:{srv.rest_port}/v1/models"
        r = requests.post(f"{url}/chat:predict", json={"instances": ["hi"] * 5}, timeout=10)
        assert r.status_code == 413 and "maximum batch size of 4 for model chat" in r.text
        r = requests.post(f"{url}/rows:predict", json={"instances": [1.0] * 51}, timeout=10)
        assert r.status_code == 413 and "(max_batch_size)" in r.json()["error"]
        r = requests.post(f"{url}/rows:predict", json={"instances": [[1.0]]}, timeout=10)
        assert r.status_code == 400 and "(max_" not in r.text  # other refusals: TF Serving's 400
        assert requests.post(f"{url}/rows:predict", json={"instances": [1.0] * 50},
                             timeout=10).status_code == 200
        start = time.monotonic()
        r = requests.post(f"{url}/chat:predict", json={"instances": ["slow"]}, timeout=10)
        assert r.status_code == 504 and r.json() == {"error": "Deadline Exceeded"}
        assert time.monotonic() - start < 0.45  # answered at the deadline, not after the run
    finally:
        srv.stop()


def test_messages_are_one_line_and_bounded():
    text = one_line("Servable not found for request: Latest(" + "n" * 100_000 + ")\n\tnext")
    assert "\n" not in text and len(text) < 1100 and text.endswith("more characters)")
    from lepton_tf.server.saved_model_servable import op_error_message
    import tensorflow as tf
    error = tf.errors.InvalidArgumentError(None, None, (
        "Graph execution error:\n\nDetected at node assert defined at (most recent call "
        "last):\n  File \"x.py\", line 7, in <module>\n\nassertion failed: [max_new_tokens "
        "must be in [1, 255]] [1000]\n\t [[{{node assert}}]] [Op:__inference_f_22]"))
    message = one_line(op_error_message(error))
    assert "\n" not in message
    assert message.startswith("assertion failed: [max_new_tokens must be in [1, 255]] [1000]")
