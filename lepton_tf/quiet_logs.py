"""Hides TensorFlow's C++ start-up noise for the command line.

TensorFlow's C++ code logs to file descriptor 2 at levels INFO (I), WARNING
(W), ERROR (E) and FATAL (F); `TF_CPP_MIN_LOG_LEVEL=2`, read when TensorFlow
loads, drops I and W. A few lines every CPU-only run prints at level E are
not errors of the run (no CUDA driver on a machine without a GPU, oneDNN's
fallback for int64), and the parts of TensorFlow that log through absl print
I and W lines whatever the variable says: `filter_stderr` drops exactly
those, by pattern, and passes every other line (real errors, Python
tracebacks) through unchanged.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import sys
import threading

# Lines TensorFlow 2.20 prints at level E (or before absl logging is set up)
# on a CPU-only machine, whatever the command does.
HARMLESS = re.compile("|".join([
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"oneDNN supports DT_\w+ only on platforms with",
    # A tf.data graph written by a newer TF than the kernels it runs on.
    r"NodeDef mentions attribute \w+ which is not in the op definition",
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    # INFO/WARNING lines in absl's format (`W0000 00:00:1796170613.128460  32616
    # loop_optimizer.cc:934] ...`): parts of TF 2.20 (grappler) log through absl,
    # which does not read TF_CPP_MIN_LOG_LEVEL.
    r"^[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]",
]))


def quiet_tensorflow(verbose: bool = False) -> bool:
    """Hides TensorFlow's C++ info/warning lines and its harmless start-up errors.

    Call before TensorFlow is imported. Nothing changes when `verbose` is set
    or the user set `TF_CPP_MIN_LOG_LEVEL` themselves.

    Args:
        verbose: the user asked for everything (`-v`).

    Returns:
        True when the output is filtered.
    """
    if verbose or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    filter_stderr(HARMLESS)
    return True


def filter_stderr(pattern: re.Pattern) -> None:
    """Drops the lines matching `pattern` from everything written to fd 2.

    The C++ logging writes to the file descriptor directly, so fd 2 is
    pointed at a pipe that a thread copies to the real stderr. Whole lines
    are matched and dropped; a line still without its newline when the pipe
    goes quiet (a prompt such as `you> `, which `input()` writes to stderr
    without readline) is passed at once, and so is the rest of that line,
    so what the user must see is never held back. At exit the pipe is closed
    and drained, so no line is lost.

    Args:
        pattern: lines to drop (searched anywhere in the line).
    """
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_copy_lines, args=(read_end, real, pattern),
                              name="stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the thread drains it
        thread.join(timeout=5)

    atexit.register(restore)


# How long a partial line may wait for the rest of it before it is shown:
# TensorFlow writes each log line in one call, so its lines arrive whole.
PARTIAL_LINE_WAIT_S = 0.05


def _copy_lines(read_end: int, real: int, pattern: re.Pattern) -> None:
    """Copies `read_end` to `real` until end of file, without the lines `pattern` matches."""
    pending = b""
    passing = False  # the start of the pending line was passed already: pass the rest
    while True:
        chunk = os.read(read_end, 65536)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if passing or not pattern.search(line.decode("utf-8", "replace")):
                os.write(real, line + b"\n")
            passing = False
        if pending and not select.select([read_end], [], [], PARTIAL_LINE_WAIT_S)[0]:
            os.write(real, pending)  # a prompt: shown now, not when its line ends
            pending, passing = b"", True
    if pending and (passing or not pattern.search(pending.decode("utf-8", "replace"))):
        os.write(real, pending)
    os.close(read_end)
