"""A running TF2 call stops at its request's deadline or cancellation.

The bound: "no request computes more than 1 s past its deadline". A
TF2 signature runs to its end whatever the deadline unless cancelled (a chat decode of
128 tokens is 1.5 s for one row here, so no slicing by rows could hold the
bound); `server/tf_cancel.py` stops it mid-run. The model here is a
`tf.while_loop` whose length is an input, sized to run ~15 s uncancelled; the
compute after the deadline is read from the server's own instrumentation
(`:lepton:serving:compute_past_deadline_*`), not from a client's clock.
"""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf

from lepton_tf.server import deadline, inference, metrics
from lepton_tf.server.errors import ServingError
from lepton_tf.server.saved_model_servable import SavedModelServable

BOUND_S = 1.0  # the bound; the measured figure is milliseconds


class _Loop(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="n")])
    def spin(self, n):
        def body(i, x):
            return i + 1, tf.tanh(tf.matmul(x, x) * 0.5 + 1.0)
        i, x = tf.while_loop(lambda i, x: i < n, body, [tf.constant(0), tf.ones([64, 64])])
        return {"steps": i, "value": tf.reduce_sum(x)}


@pytest.fixture(scope="module")
def loop_model(tmp_path_factory):
    """(servable, steps that take ~15 s uncancelled)."""
    path = str(tmp_path_factory.mktemp("loop") / "1")
    module = _Loop()
    tf.saved_model.save(module, path, signatures={"serving_default": module.spin})
    servable = SavedModelServable(path, "loop")
    assert servable.backend == "tf2"
    run = lambda n: servable.run("serving_default", {"n": np.array(n, np.int32)})  # noqa: E731
    run(10)
    start = time.monotonic()
    run(2000)
    per_step = (time.monotonic() - start) / 2000
    return servable, int(15.0 / max(per_step, 1e-7))


def _predict(servable, n, name):
    servable.name = name  # one metrics series per test
    return inference.predict_arrays(servable, "", {"n": np.array(n, np.int32)})


def test_deadline_stops_a_running_tf2_call(loop_model):
    servable, long_steps = loop_model
    start = time.monotonic()
    with deadline.scope(0.3), pytest.raises(ServingError) as raised:
        _predict(servable, long_steps, "loop-deadline")
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    past = metrics.past_deadline_max()["loop-deadline"]
    assert 0 <= past < BOUND_S, f"computed {past:.3f} s past the deadline"
    assert time.monotonic() - start < 0.3 + 5 * BOUND_S  # not the ~15 s of the whole loop
    exposition = metrics.Metrics().exposition().decode()
    assert ':lepton:serving:compute_past_deadline_seconds_count{model_name="loop-deadline"} 1.0' \
        in exposition


def test_cancel_flag_stops_a_running_tf2_call(loop_model):
    servable, long_steps = loop_model
    cancelled = threading.Event()
    threading.Timer(0.3, cancelled.set).start()
    start = time.monotonic()
    with deadline.until(None, cancelled), pytest.raises(ServingError) as raised:
        _predict(servable, long_steps, "loop-cancel")
    assert raised.value.code == grpc.StatusCode.CANCELLED
    assert time.monotonic() - start < 0.3 + 5 * BOUND_S


def test_cancelling_one_request_leaves_the_others_running(loop_model):
    """TensorFlow's own cancellation context is one per process: a request's
    deadline must stop its own call only, not a neighbour's."""
    servable, long_steps = loop_model
    short_steps = max(long_steps // 10, 1)  # ~1.5 s, no deadline
    result, errors = {}, []

    def neighbour():
        try:
            result.update(servable.run("serving_default", {"n": np.array(short_steps, np.int32)}))
        except Exception as e:  # noqa: BLE001 - reported by the assertion
            errors.append(e)
    thread = threading.Thread(target=neighbour)
    thread.start()
    with deadline.scope(0.2), pytest.raises(ServingError):
        _predict(servable, long_steps, "loop-neighbour")
    thread.join(timeout=120)
    assert not errors, errors
    assert int(result["steps"]) == short_steps


def test_a_call_that_ends_in_time_is_not_counted(loop_model):
    servable, _ = loop_model
    with deadline.scope(30):
        _, out = _predict(servable, 10, "loop-in-time")
    assert int(out["steps"]) == 10
    assert "loop-in-time" not in metrics.past_deadline_max()
