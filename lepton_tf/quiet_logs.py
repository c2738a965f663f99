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
import subprocess
import sys

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
    pointed at a pipe that a child process copies to the real stderr. A
    child, not a thread: when TensorFlow aborts or crashes the process, the
    child still drains the pipe, so the C++ message that explains the crash
    (`terminate called after throwing ...`) is printed, not lost with the
    process. At a normal exit the pipe is closed and drained, so no line is
    lost either. Text without a newline (a prompt) is passed on once the
    writer pauses, so a prompt shows before the user types.

    Args:
        pattern: lines to drop (searched anywhere in the line).
    """
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    # Its own session: Ctrl-C in the terminal reaches the command, not the
    # copier, which ends when the last write end of the pipe is closed.
    child = subprocess.Popen(
        [sys.executable, "-S", "-c", _COPIER, pattern.pattern],
        stdin=read_end, stdout=real, stderr=subprocess.DEVNULL, close_fds=True,
        start_new_session=True, env={"PYTHONIOENCODING": "utf-8"})
    os.close(read_end)
    os.dup2(write_end, 2)
    os.close(write_end)

    def restore() -> None:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the copier drains it
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    atexit.register(restore)


# The copier: whole lines are filtered; a partial line (a prompt) is passed
# on when no more bytes come within 50 ms, and so is the rest of that line
# (what the user must see is never held back or cut). C++ log lines are
# written whole.
_COPIER = r"""
import os, re, select, sys
pattern, out, buffer, passing = re.compile(sys.argv[1]), sys.stdout.fileno(), b"", False
def emit(line, passing):
    if passing or not pattern.search(line.decode("utf-8", "replace")):
        os.write(out, line)
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    buffer += chunk
    *lines, buffer = buffer.split(b"\n")
    for line in lines:
        emit(line + b"\n", passing)
        passing = False
    if buffer and not select.select([0], [], [], 0.05)[0]:
        emit(buffer, passing)
        buffer, passing = b"", True
if buffer:
    emit(buffer, passing)
"""
