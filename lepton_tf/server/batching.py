"""Server-side batching: concatenate compatible requests along dim 0, run once, split.

Opt-in like TF Serving's `--enable_batching`. Requests join a batch when
they use the same signature and their inputs agree on dtype and on every
dimension but the first (scalar inputs such as `k` must be equal). A batch
is run when it holds `max_batch_size` rows or its oldest request has waited
`batch_timeout_micros`; `num_batch_threads` batches run at once and at most
`max_enqueued_batches` batches wait (more is UNAVAILABLE, as in TF Serving).
Only requests of the same principal share a batch, run as that principal: a
servable that answers per caller (search under document permissions) never
answers one caller's rows with another's rights.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

import numpy as np

from lepton_tf.server import audit, deadline, identity
from lepton_tf.server.config import BatchingOptions
from lepton_tf.server.errors import ServingError, deadline_exceeded, internal, unavailable
from lepton_tf.server.servable import Servable


class _Task:
    __slots__ = ("key", "inputs", "rows", "done", "outputs", "error", "enqueued", "deadline",
                 "principal", "audit_sink")

    def __init__(self, key, inputs, rows):
        self.principal, self.audit_sink = identity.current(), audit.current_sink()
        self.key, self.inputs, self.rows = (key, self.principal), inputs, rows
        self.deadline = deadline.current()
        self.done = threading.Event()
        self.outputs = self.error = None
        self.enqueued = time.monotonic()


def _batch_deadline(batch: list[_Task]) -> float | None:
    """The latest deadline of a batch's requests (None if one has none)."""
    deadlines = [t.deadline for t in batch]
    return None if None in deadlines else max(deadlines)


def batch_key(signature_name: str, inputs: dict[str, np.ndarray]):
    """`(key, rows)` when the request can share a batch, else `(None, 0)`."""
    parts, rows = [signature_name], set()
    for alias in sorted(inputs):
        array = inputs[alias]
        if array.ndim == 0:
            parts.append((alias, array.dtype.str, "scalar", array.tobytes()
                          if array.dtype != object else repr(array.item())))
        else:
            rows.add(array.shape[0])
            parts.append((alias, array.dtype.str, array.shape[1:]))
    if len(rows) != 1:
        return None, 0
    return tuple(parts), rows.pop()


class BatchingServable(Servable):
    """Wraps a servable so concurrent `run` calls share executions.

    Args:
        inner: the servable that runs batches.
        options: the batching parameters.
        on_batch: called with each batch's row count (metrics).
    """

    accepts_output_names = False  # a batch mixes requests with different filters

    def __init__(self, inner: Servable, options: BatchingOptions,
                 on_batch: Callable[[int], None] | None = None):
        self.inner, self.options, self.on_batch = inner, options, on_batch
        self.name, self.version = inner.name, inner.version
        self._queue: collections.deque[_Task] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._worker, daemon=True,
                                          name=f"batch-{inner.name}-{inner.version}-{i}")
                         for i in range(options.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    @property
    def signatures(self):
        return self.inner.signatures

    def __getattr__(self, item):  # signature_defs, path, backend of the wrapped servable
        if item == "inner":
            raise AttributeError(item)
        return getattr(self.inner, item)

    def run(self, signature_name, inputs):
        key, rows = batch_key(signature_name, inputs)
        if key is None or rows == 0 or rows > self.options.max_batch_size:
            return self.inner.run(signature_name, inputs)  # cannot share a batch
        task = _Task(key, inputs, rows)
        limit = self.options.max_enqueued_batches * self.options.max_batch_size
        with self._cond:
            if self._closed:
                raise unavailable("Servable is unloading.")
            if sum(t.rows for t in self._queue) + rows > limit:
                raise unavailable("The batch scheduling queue to which this task was "
                                  "submitted is full")
            self._queue.append(task)
            self._cond.notify_all()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _take_batch(self) -> list[_Task] | None:
        """Waits for a full or timed-out batch and removes it from the queue."""
        timeout = self.options.batch_timeout_micros / 1e6
        with self._cond:
            while True:
                if self._closed and not self._queue:
                    return None
                self._drop_expired()
                if not self._queue:
                    self._cond.wait()
                    continue
                first = self._queue[0]
                same = [t for t in self._queue if t.key == first.key]
                rows = sum(t.rows for t in same)
                remaining = first.enqueued + timeout - time.monotonic()
                if rows >= self.options.max_batch_size or remaining <= 0 or self._closed:
                    break
                self._cond.wait(remaining)
            batch, total = [], 0
            for task in same:
                if total + task.rows > self.options.max_batch_size:
                    break
                batch.append(task)
                total += task.rows
            for task in batch:
                self._queue.remove(task)
            return batch

    def _drop_expired(self) -> None:
        """Answers queued requests whose deadline passed (called under the lock)."""
        now = time.monotonic()
        for task in [t for t in self._queue if t.deadline is not None and t.deadline <= now]:
            self._queue.remove(task)
            task.error = deadline_exceeded()
            task.done.set()

    def _worker(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            self._run_batch(batch)

    def _run_batch(self, batch: list[_Task]) -> None:
        self._execute(batch)
        if len(batch) > 1 and any(t.error is not None for t in batch):
            # One bad request must not fail its neighbours: rerun them alone.
            for task in batch:
                task.error = None
                self._execute([task])
        for task in batch:
            task.done.set()

    def _execute(self, batch: list[_Task]) -> None:
        signature = batch[0].key[0][0]
        total = sum(t.rows for t in batch)
        try:
            inputs = {alias: (array if array.ndim == 0 else
                              np.concatenate([t.inputs[alias] for t in batch]))
                      for alias, array in batch[0].inputs.items()}
            with deadline.until(_batch_deadline(batch)), identity.acting_as(
                    batch[0].principal), audit.scope(batch[0].audit_sink):  # one caller a batch
                outputs = self.inner.run(signature, inputs)
            if self.on_batch is not None:
                self.on_batch(total)
            if len(batch) == 1:  # nothing to split (outputs need not be batched)
                batch[0].outputs = outputs
                return
            offset = 0
            for task in batch:
                task.outputs = {}
                for alias, value in outputs.items():
                    value = np.asarray(value)
                    if value.ndim == 0 or value.shape[0] != total:
                        raise internal(
                            "Batched output tensor's 0th dimension does not equal the sum "
                            f"of the 0th dimension sizes of the input tensors ({alias}).")
                    task.outputs[alias] = value[offset:offset + task.rows]
                offset += task.rows
        except Exception as e:  # noqa: BLE001 - handed to every waiting request
            for task in batch:
                task.error = e if isinstance(e, (ServingError, ValueError)) else \
                    internal(f"{type(e).__name__}: {e}")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self.inner.close()
