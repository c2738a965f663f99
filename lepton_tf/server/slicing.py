"""Running a large batch in slices short enough for its deadline to be honoured.

A deadline is checked between executions, and `tf_cancel` stops a running
TF2 call only where its graph checks for cancellation: a `tf.while_loop`
(the chat decode) stops within milliseconds, but a straight-line graph (an
encoder's or the intent model's forward pass) runs to its end once started.
So a batch runs in slices of at most `max_execution_batch_size` rows (memory,
`limits.Limits`) and, when the request has a deadline or a cancel flag and
every output of the signature is declared batch-major, of at most
`SLICE_TARGET_S` seconds of estimated work, like TF Serving's batching
splits a large task into `max_execution_batch_size` pieces: the cost of a
row is learned per servable, signature and scalar inputs (`max_new_tokens`,
`num_beams`, `k` ... change it by orders of magnitude), from the slices
already run (a first request of a kind starts with `PROBE_ROWS` rows and the
slices grow as the estimate settles). The deadline and the cancel flag are
checked before each slice, so work nobody waits for stops within about one
slice; a slice expected to end more than `OVERRUN_BUDGET_S` past the deadline
(on a busy machine, even one row may) is not started.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from lepton_tf.server import deadline
from lepton_tf.server.errors import deadline_exceeded, internal

SLICE_TARGET_S = 0.25  # estimated seconds of work per slice under a deadline
PROBE_ROWS = 8  # the first slice of a kind whose cost is not known yet
GROWTH = 4  # a slice is at most this many times the previous one
# Work expected to end more than this past the deadline is not started (the client
# is gone by then): DEADLINE_EXCEEDED at once. Each refusal lowers the estimate by DECAY.
OVERRUN_BUDGET_S = 0.5
DECAY = 0.8
_MAX_KINDS = 256  # cost estimates kept per servable (scalar inputs come from clients)
_lock = threading.Lock()


def _rows(inputs: dict) -> int | None:
    rows = {a.shape[0] for a in inputs.values() if a.ndim}
    return rows.pop() if len(rows) == 1 else None


def _kind(signature: str, inputs: dict):
    """What a row's cost depends on besides the row: the signature and scalar inputs."""
    scalars = tuple(sorted((k, v.dtype.str, v.item() if v.dtype != object else repr(v.item()))
                           for k, v in inputs.items() if v.ndim == 0))
    return signature, scalars


class CostModel:
    """Seconds per row per kind of request (an exponential moving average)."""

    def __init__(self):
        self._per_row: dict = {}

    def get(self, kind) -> float | None:
        return self._per_row.get(kind)

    def forget_some(self, kind) -> None:
        """Lowers an estimate that refused work, so one slow spell is not held forever."""
        with _lock:
            if kind in self._per_row:
                self._per_row[kind] *= DECAY

    def observe(self, kind, rows: int, seconds: float) -> None:
        with _lock:
            if len(self._per_row) >= _MAX_KINDS and kind not in self._per_row:
                self._per_row.clear()
            value = seconds / max(rows, 1)
            old = self._per_row.get(kind)
            self._per_row[kind] = value if old is None else 0.5 * old + 0.5 * value


def costs_of(servable) -> CostModel:
    """The servable's `CostModel` (made on first use)."""
    model = getattr(servable, "slice_costs", None)
    if model is None:
        with _lock:
            model = getattr(servable, "slice_costs", None)
            if model is None:
                model = servable.slice_costs = CostModel()
    return model


def batch_major(servable, signature: str) -> bool:
    """True when every output of `signature` is declared with a leading unknown
    (batch) dimension, so slices' outputs can be concatenated."""
    sig = getattr(servable, "signatures", {}).get(signature)
    if sig is None or not sig.outputs:
        return False
    return all(spec.shape is not None and len(spec.shape) >= 1 and spec.shape[0] is None
               for spec in sig.outputs.values())


def _step(cap: int, per_row: float | None, previous: int | None) -> int:
    if per_row is None:
        return min(cap, PROBE_ROWS)
    step = min(cap, max(1, int(SLICE_TARGET_S / max(per_row, 1e-9))))
    return step if previous is None else min(step, previous * GROWTH)


def run_in_slices(servable, signature: str, inputs: dict, run, max_rows: int) -> dict:
    """`run(inputs)` in slices (see the module docstring); outputs concatenated.

    Args:
        servable: the model (its name, and where its cost estimates live).
        signature: the signature run (part of the cost's kind).
        inputs: alias -> array; arrays with rows are sliced, scalars passed whole.
        run: `(inputs) -> {alias: array}`, one execution.
        max_rows: rows per execution at most (0: no row limit).

    Raises:
        ServingError: DEADLINE_EXCEEDED or CANCELLED between slices; INTERNAL if a
            sliced model's outputs are not batch-major.
    """
    rows = _rows(inputs)
    timed = (deadline.current() is not None or deadline.current_cancel() is not None) \
        and batch_major(servable, signature)
    cap = max_rows or (rows or 0)
    if rows is None or not rows or (not timed and rows <= cap):
        return run(inputs)
    costs, kind = costs_of(servable), _kind(signature, inputs)
    if not timed:
        step, pieces, start = cap, [], 0
    else:
        step, pieces, start = _step(cap, costs.get(kind), None), [], 0
    if step >= rows:  # one execution is short enough: no slicing
        _refuse_hopeless(costs, kind, rows)
        began = time.monotonic()
        out = run(inputs)
        costs.observe(kind, rows, time.monotonic() - began)
        return out
    while start < rows:
        deadline.check()
        n = min(step, rows - start)
        _refuse_hopeless(costs, kind, n)
        part = {k: (v[start:start + n] if v.ndim else v) for k, v in inputs.items()}
        began = time.monotonic()
        pieces.append((n, run(part)))
        costs.observe(kind, n, time.monotonic() - began)
        start += n
        if timed:
            step = _step(cap, costs.get(kind), step)
    return _merge(servable, pieces)


def _refuse_hopeless(costs: CostModel, kind, rows: int) -> None:
    """DEADLINE_EXCEEDED now if `rows` are expected to end over `OVERRUN_BUDGET_S`
    past the deadline (the estimate comes from the same load, so a busy machine
    refuses what it cannot finish instead of computing it for nobody)."""
    at, per_row = deadline.current(), costs.get(kind)
    if at is None or per_row is None:
        return
    expected, left = per_row * rows, at - time.monotonic()
    if expected - left > OVERRUN_BUDGET_S:
        costs.forget_some(kind)
        raise deadline_exceeded(f"Deadline Exceeded: {rows} rows need about {expected:.2f} s, "
                                f"{max(left, 0.0):.2f} s were left")


def _merge(servable, pieces: list) -> dict:
    if len(pieces) == 1:
        return pieces[0][1]
    merged = {}
    for alias in pieces[0][1]:
        arrays = [np.asarray(out[alias]) for _, out in pieces]
        if any(a.ndim == 0 or a.shape[0] != n for a, (n, _) in zip(arrays, pieces)):
            raise internal(f"Output {alias} of model {servable.name} is not batch-major; "
                           "it cannot run with max_execution_batch_size.")
        merged[alias] = np.concatenate(arrays)
    return merged
