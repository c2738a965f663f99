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
slice; a slice expected to end past the deadline (plus the model's
`deadline_margin_ms`, default 0: a result after the deadline reaches nobody,
gRPC has already answered DEADLINE_EXCEEDED) is not started, and the request
is answered DEADLINE_EXCEEDED at once.

The estimate is an upper quantile of the last `WINDOW` wall times of the kind
within `HORIZON_S`, not a mean: a loaded machine predicts loaded costs (the
90th percentile sizes slices; a slice must fit before the deadline even at the
slowest of them, `REFUSE_QUANTILE`). A slice of `n` rows is expected to take
at least what `m <= n` rows took (a larger call is not faster) and `n/m` of
what `m >= n` rows took (the cost of a row does not grow with the batch), so
single rows learn their fixed overhead from single rows. Estimates older than `HORIZON_S` are dropped: a
kind refused through a slow spell runs again (unknown) once it has passed.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np

from lepton_tf.server import deadline
from lepton_tf.server.errors import deadline_exceeded, internal

SLICE_TARGET_S = 0.25  # estimated seconds of work per slice under a deadline
PROBE_ROWS = 8  # the first slice of a kind whose cost is not known yet
GROWTH = 4  # a slice is at most this many times the previous one
WINDOW = 32  # recent executions kept per kind
QUANTILE = 0.9  # of their implied costs: what sizes a slice
REFUSE_QUANTILE = 1.0  # what a slice must fit in before the deadline: the slowest recent
HORIZON_S = 60.0  # executions older than this are forgotten
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
    """Recent executions per kind of request, and what they imply for `n` rows."""

    def __init__(self, clock=time.monotonic):
        self._seen: dict = {}  # kind -> deque of (when, rows, seconds)
        self._clock = clock

    def _recent(self, kind) -> list:
        seen = self._seen.get(kind)
        if not seen:
            return []
        oldest = self._clock() - HORIZON_S
        with _lock:
            while seen and seen[0][0] < oldest:
                seen.popleft()
            return list(seen)

    def expected(self, kind, rows: int, quantile: float = QUANTILE) -> float | None:
        """Seconds `rows` rows are expected to take, the `quantile` of what recent
        executions imply (None: no recent execution)."""
        seen = self._recent(kind)
        if not seen:
            return None
        implied = [s if m <= rows else s * rows / m for _, m, s in seen]
        return float(np.quantile(implied, quantile))

    def get(self, kind, rows: int = 1) -> float | None:
        """Expected seconds per row, for a slice of `rows` rows."""
        expected = self.expected(kind, rows)
        return None if expected is None else expected / max(rows, 1)

    def observe(self, kind, rows: int, seconds: float) -> None:
        with _lock:
            if len(self._seen) >= _MAX_KINDS and kind not in self._seen:
                self._seen.clear()
            self._seen.setdefault(kind, collections.deque(maxlen=WINDOW)).append(
                (self._clock(), max(rows, 1), seconds))


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


def _step(cap: int, costs: CostModel, kind, previous: int | None) -> int:
    """Rows of the next slice: about `SLICE_TARGET_S` of expected work."""
    per_row = costs.get(kind, previous or PROBE_ROWS)
    if per_row is None:
        return min(cap, PROBE_ROWS)
    step = min(cap, max(1, int(SLICE_TARGET_S / max(per_row, 1e-9))))
    return step if previous is None else min(step, previous * GROWTH)


def run_in_slices(servable, signature: str, inputs: dict, run, max_rows: int,
                  margin_s: float = 0.0) -> dict:
    """`run(inputs)` in slices (see the module docstring); outputs concatenated.

    Args:
        servable: the model (its name, and where its cost estimates live).
        signature: the signature run (part of the cost's kind).
        inputs: alias -> array; arrays with rows are sliced, scalars passed whole.
        run: `(inputs) -> {alias: array}`, one execution.
        max_rows: rows per execution at most (0: no row limit).
        margin_s: a slice may be expected to end this long past the deadline.

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
        step, pieces, start = _step(cap, costs, kind, None), [], 0
    if step >= rows:  # one execution is short enough: no slicing
        deadline.check()
        _refuse_hopeless(costs, kind, rows, margin_s)
        began = time.monotonic()
        out = run(inputs)
        costs.observe(kind, rows, time.monotonic() - began)
        return out
    while start < rows:
        deadline.check()
        n = min(step, rows - start)
        _refuse_hopeless(costs, kind, n, margin_s)
        part = {k: (v[start:start + n] if v.ndim else v) for k, v in inputs.items()}
        began = time.monotonic()
        pieces.append((n, run(part)))
        costs.observe(kind, n, time.monotonic() - began)
        start += n
        if timed:
            step = _step(cap, costs, kind, step)
    return _merge(servable, pieces)


def _refuse_hopeless(costs: CostModel, kind, rows: int, margin_s: float) -> None:
    """DEADLINE_EXCEEDED now if `rows` are expected to end over `margin_s` past the
    deadline (the estimate comes from the same load, so a busy machine refuses
    what it cannot finish instead of computing it for nobody)."""
    at = deadline.current()
    expected = None if at is None else costs.expected(kind, rows, REFUSE_QUANTILE)
    if expected is None:
        return
    left = at - time.monotonic()
    if expected - left > margin_s:
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
