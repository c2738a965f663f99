"""Step progress lines with an ETA, for logs and pipes as well as terminals.

Keras' progress bar (`verbose=1`) redraws one line with `\\r`, which a log
file or a pipe shows only when the epoch ends; `verbose=2` prints one line
per epoch. `StepProgress` prints a plain line every N steps or every few
seconds with the global step, the loss, the step time and the time left.
"""

from __future__ import annotations

import sys
import time

import keras


def format_seconds(seconds: float) -> str:
    """`75` -> `1:15`, `3725` -> `1:02:05`."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepProgress(keras.callbacks.Callback):
    """Prints `name step S/T (P%) loss L, X s/step, ETA m:ss` lines.

    A line is printed after the first step, then whenever `every_steps`
    steps or `every_seconds` seconds have passed since the last line, and
    after the last step. The step time (and so the ETA) is measured from
    the end of the first step, which also traces the graph.

    Args:
        name: the run's name, at the start of each line.
        total_steps: the steps of the whole run.
        first_step: the global step this process starts at (a resumed run).
        every_steps: a line at least this often in steps (0: by time only).
        every_seconds: a line at least this often in seconds (0: by steps only).
        stream: where to write (default `sys.stdout`).
        clock: the time source (tests).
    """

    def __init__(self, name: str, total_steps: int, first_step: int = 0,
                 every_steps: int = 0, every_seconds: float = 15.0, stream=None,
                 clock=time.monotonic):
        super().__init__()
        self.name = name
        self.total_steps = int(total_steps)
        self.step = int(first_step)
        self.every_steps = int(every_steps)
        self.every_seconds = float(every_seconds)
        self.stream = stream
        self.clock = clock
        self._timed_from = None  # (time, step) after the first step
        self._last_line = None  # (time, step)
        self._validation = {}  # the last epoch's val_* metrics, shown on the next lines

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        now = self.clock()
        if self._timed_from is None:
            self._timed_from = (now, self.step)
            self._print(now, logs)
            return
        last_time, last_step = self._last_line
        if (self.step >= self.total_steps
                or (self.every_steps and self.step - last_step >= self.every_steps)
                or (self.every_seconds and now - last_time >= self.every_seconds)):
            self._print(now, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._validation = {k: float(v) for k, v in (logs or {}).items()
                            if k.startswith("val_") and isinstance(v, (int, float))}

    def line(self, now: float, logs=None) -> str:
        """The progress line at time `now` (after `self.step` steps)."""
        parts = [f"{self.name} step {self.step}/{self.total_steps} "
                 f"({100 * self.step / max(self.total_steps, 1):.0f}%)"]
        if logs and "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        parts.extend(f"{k} {v:.4f}" for k, v in sorted(self._validation.items()))
        start_time, start_step = self._timed_from
        if self.step > start_step:
            per_step = (now - start_time) / (self.step - start_step)
            left = max(self.total_steps - self.step, 0) * per_step
            parts.append(f"{per_step:.2f} s/step, ETA {format_seconds(left)}")
        return ", ".join(parts)

    def _print(self, now: float, logs) -> None:
        self._last_line = (now, self.step)
        stream = self.stream or sys.stdout
        print(self.line(now, logs), file=stream, flush=True)
