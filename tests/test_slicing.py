"""Under a deadline a large batch runs in slices of bounded time.

A straight-line graph (an encoder's forward pass) cannot be stopped once
started, so "no request computes more than 1 s past its deadline" needs each
execution to be short: slices of ~0.25 s of estimated work, the cost of a row
learned per signature and scalar inputs. The servable here sleeps a fixed
time per row (the GIL is released, as in a TF call).
"""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from lepton_tf.server import deadline, inference, limits, metrics, slicing
from lepton_tf.server.errors import ServingError
from lepton_tf.server.servable import Servable, Signature, TensorSpec


class Slow(Servable):
    """`x` [None] float (and a scalar `scale`) -> `y` = x * scale; `per_row` s a row."""

    def __init__(self, name, per_row=0.004, batch_major=True):
        self.name, self.version, self.per_row, self.runs = name, 1, per_row, []
        out = TensorSpec("y", "float32", (None,) if batch_major else ())
        self._signatures = {"serving_default": Signature(
            {"x": TensorSpec("x", "float32", (None,)),
             "scale": TensorSpec("scale", "float32", ())}, {"y": out})}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        self.runs.append(len(inputs["x"]))
        time.sleep(self.per_row * len(inputs["x"]) * float(inputs["scale"]))
        return {"y": inputs["x"] * inputs["scale"]}


def _inputs(rows, scale=1.0):
    return {"x": np.arange(rows, dtype=np.float32), "scale": np.array(scale, np.float32)}


def test_under_a_deadline_slices_are_about_the_target_time():
    servable = limits.attach(Slow("slow-target"), limits.Limits())
    with deadline.scope(60):
        _, out = inference.predict_arrays(servable, "", _inputs(400))
    np.testing.assert_array_equal(out["y"], np.arange(400, dtype=np.float32))
    runs = servable.runs
    assert sum(runs) == 400 and runs[0] == slicing.PROBE_ROWS
    target_rows = slicing.SLICE_TARGET_S / servable.per_row  # 62 rows
    assert all(r <= target_rows * 1.6 for r in runs), runs
    assert max(runs) >= target_rows / 3, runs  # it did grow past the probe


def test_without_a_deadline_it_is_one_run():
    servable = limits.attach(Slow("slow-nodeadline"), limits.Limits())
    inference.predict_arrays(servable, "", _inputs(300))
    assert servable.runs == [300]


def test_the_cost_is_learned_per_kind_of_request():
    servable = limits.attach(Slow("slow-kinds"), limits.Limits())
    with deadline.scope(60):
        inference.predict_arrays(servable, "", _inputs(200))
        servable.runs.clear()
        inference.predict_arrays(servable, "", _inputs(200))  # known: no probe
        assert servable.runs[0] > slicing.PROBE_ROWS
        servable.runs.clear()
        inference.predict_arrays(servable, "", _inputs(200, scale=4.0))  # 4x the cost: new kind
        assert servable.runs[0] == slicing.PROBE_ROWS
        assert max(servable.runs) <= slicing.SLICE_TARGET_S / (4 * servable.per_row) * 1.6


def test_outputs_not_batch_major_are_not_time_sliced():
    servable = limits.attach(Slow("slow-scalar", batch_major=False), limits.Limits())
    with deadline.scope(60):
        inference.predict_arrays(servable, "", _inputs(100))
    assert servable.runs == [100]


def test_a_large_batch_stops_within_a_slice_of_its_deadline():
    """400 rows are 1.6 s of work; the deadline is 0.5 s. Unsliced, the run would
    end 1.1 s past it; sliced, at most one ~0.25 s slice runs past it."""
    servable = limits.attach(Slow("slow-deadline"), limits.Limits())
    with deadline.scope(60):
        inference.predict_arrays(servable, "", _inputs(64))  # learn the cost
    with deadline.scope(0.5), pytest.raises(ServingError) as raised:
        inference.predict_arrays(servable, "", _inputs(400))
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    # No entry: no run computed past the deadline (on a loaded machine the learned cost
    # can refuse the first slice before it starts: the zero-allowance rule).
    past = metrics.past_deadline_max().get("slow-deadline", 0.0)
    assert past < 0.8, f"computed {past:.3f} s past the deadline"


def test_work_that_cannot_end_near_its_deadline_is_not_started():
    """One row expected to take 2 s with 0.3 s left is refused at once (it would end
    1.7 s past the deadline): DEADLINE_EXCEEDED, nothing run."""
    servable = limits.attach(Slow("slow-hopeless", per_row=2.0), limits.Limits())
    with deadline.scope(60):
        inference.predict_arrays(servable, "", _inputs(1))  # learn: 2 s a row
    servable.runs.clear()
    start = time.monotonic()
    with deadline.scope(0.3), pytest.raises(ServingError) as raised:
        inference.predict_arrays(servable, "", _inputs(1))
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "need about" in raised.value.message and servable.runs == []
    assert time.monotonic() - start < 0.3


def test_a_slice_expected_to_end_after_the_deadline_is_not_started():
    """0.5 s of work with 0.2 s left would end 0.3 s past the deadline: a result
    nobody receives (gRPC has answered DEADLINE_EXCEEDED). Refused, not run; with
    `deadline_margin_ms` 500 it is started."""
    servable = limits.attach(Slow("slow-late", per_row=0.5), limits.Limits())
    with deadline.scope(60):
        inference.predict_arrays(servable, "", _inputs(1))
    servable.runs.clear()
    with deadline.scope(0.2), pytest.raises(ServingError) as raised:
        inference.predict_arrays(servable, "", _inputs(1))
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and servable.runs == []
    lenient = limits.attach(servable, limits.Limits(deadline_margin_ms=500))
    with deadline.scope(0.2):
        inference.predict_arrays(lenient, "", _inputs(1))
    assert lenient.runs == [1]  # started


def test_the_estimate_is_an_upper_quantile_of_recent_executions():
    """Nine fast runs and three slow ones: a mean (0.3 s) would let a slow spell's
    request start with 0.4 s left; the 90th percentile (1 s) refuses it. A single
    row learns its own overhead: a 100-row slice taking 0.1 s does not make one
    row 1 ms."""
    now = [0.0]
    costs = slicing.CostModel(clock=lambda: now[0])
    for seconds in [0.1] * 9 + [1.0] * 3:
        costs.observe("k", 1, seconds)
    assert costs.expected("k", 1) == pytest.approx(1.0)
    costs.observe("k", 100, 0.1)
    assert costs.expected("k", 1) >= 0.1  # one row costs at least its own overhead
    assert costs.expected("k", 200) >= 0.2  # 200 rows at least twice 100 rows' per row
    now[0] += slicing.HORIZON_S + 1  # a slow spell is forgotten: the kind runs again
    assert costs.expected("k", 1) is None


def test_an_expired_request_is_answered_before_anything_runs():
    servable = limits.attach(Slow("slow-expired"), limits.Limits())
    with deadline.scope(0.001), pytest.raises(ServingError) as raised:
        time.sleep(0.01)
        inference.predict_arrays(servable, "", _inputs(4))
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED and servable.runs == []
