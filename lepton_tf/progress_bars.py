"""Progress bars (tqdm) that also read well in a log file or a pipe.

On a terminal: tqdm's bar, redrawn in place. Elsewhere (`make run > log`,
CI): the same bar text, one line every `log_interval` seconds, because a bar
redrawn with carriage returns shows nothing in a log until it ends.
"""

from __future__ import annotations

import sys


class _LineWriter:
    """A file for tqdm that turns each redraw into one line."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip("\n")
        if text.strip():
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress(iterable=None, desc: str = "", total: int | None = None, unit: str = "it",
             log_interval: float = 15.0, stream=None):
    """`tqdm(iterable)` on stderr; one plain line per `log_interval` s off a terminal.

    Args:
        iterable: what to iterate (or None, then call `.update(n)`).
        desc: the bar's label.
        total: the number of items (default `len(iterable)`).
        unit: the items' unit.
        log_interval: seconds between lines when stderr is not a terminal.
        stream: where to write (default `sys.stderr`).

    Returns:
        A `tqdm` instance.
    """
    from tqdm import tqdm

    stream = stream or sys.stderr
    if getattr(stream, "isatty", lambda: False)():
        return tqdm(iterable, desc=desc, total=total, unit=unit, file=stream)
    return tqdm(iterable, desc=desc, total=total, unit=unit, file=_LineWriter(stream),
                mininterval=log_interval, maxinterval=log_interval, ncols=100, ascii=True)


def batch_starts(count: int, batch_size: int, desc: str, unit: str = "text"):
    """`range(0, count, batch_size)` with a `progress` bar counting `unit`s.

    Args:
        count: items in all.
        batch_size: items a batch.
        desc: the bar's label.
        unit: the items' name.

    Yields:
        The start index of each batch.
    """
    bar = progress(desc=f"{desc} ({count} {unit}s)", total=count, unit=unit)
    try:
        for start in range(0, count, batch_size):
            yield start
            bar.update(min(batch_size, count - start))
    finally:
        bar.close()


def machine_line() -> str:
    """`2 CPU cores, load average 3.1 2.5 1.9 (1, 5, 15 min)`."""
    import os

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPU cores, load average {load} (1, 5, 15 min)"


class StageClock:
    """Announces each stage of a long job with its expected time; times it.

    Example:

    >>> import io
    >>> clock = StageClock(stream=io.StringIO(), clock=iter([0.0, 12.0]).__next__)
    >>> with clock.stage("index", expected="about 20 s"):
    ...     pass
    >>> clock.stages
    [('index', 12.0, '')]

    Args:
        stream: where to print (default `sys.stdout`).
        clock: the time source.
    """

    def __init__(self, stream=None, clock=None):
        import time

        self.stream = stream
        self.clock = clock or time.monotonic
        self.stages: list[tuple[str, float, str]] = []

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def stage(self, name: str, expected: str = "", what: str = ""):
        """A context manager timing one stage; `note(...)` sets its summary note."""
        import contextlib

        @contextlib.contextmanager
        def run():
            self._print(f"\n== {name}{': ' + what if what else ''}"
                        + (f" (expected {expected})" if expected else ""))
            start = self.clock()
            record = {"note": ""}
            try:
                yield record
            finally:
                self.stages.append((name, self.clock() - start, record["note"]))

        return run()

    def summary(self) -> str:
        """Each stage's seconds and note, the total, and the machine's load now."""
        width = max([len(n) for n, _, _ in self.stages] + [5])
        lines = ["", "== summary (seconds per stage)"]
        lines += [f"  {n:<{width}} {s:7.1f} s  {note}".rstrip() for n, s, note in self.stages]
        total = sum(s for _, s, _ in self.stages)
        lines += [f"  {'total':<{width}} {total:7.1f} s", f"  machine: {machine_line()}"]
        return "\n".join(lines)
