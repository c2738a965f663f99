"""What `lepton-tf serve` prints while it loads, and the line that says it is ready.

Loading every model takes a minute on a CPU: one line per model as it starts
and ends loading says the server is working, and the "ready" line gives the
addresses a person needs next (the page's URL above all).
"""

from __future__ import annotations

import logging
import re
import sys
import time

# The model manager's own log lines (TF Serving's wording), at INFO.
_LOADING = re.compile(r"^Loading servable version \{name: (\S+) version: (\d+)\}")
_LOADED = re.compile(r"^Successfully loaded servable version \{name: (\S+) version: (\d+)\}")
_FAILED = re.compile(r"^Loading servable (\S+) version (\d+) failed: (.*)")


class LoadProgress(logging.Handler):
    """Prints "loading NAME vN ..." / "loaded NAME vN (12.3 s)" from the manager's log.

    Args:
        stream: where to print (default stdout).
    """

    def __init__(self, stream=None):
        super().__init__(level=logging.INFO)
        self.stream = stream or sys.stdout
        self._started: dict[tuple[str, str], float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := _LOADING.match(message):
            self._started[match.groups()] = time.monotonic()
            self._print(f"loading {match[1]} version {match[2]} ...")
        elif match := _LOADED.match(message):
            started = self._started.pop(match.groups(), None)
            took = f" ({time.monotonic() - started:.1f} s)" if started is not None else ""
            self._print(f"loaded {match[1]} version {match[2]}{took}")
        elif match := _FAILED.match(message):
            self._print(f"FAILED to load {match[1]} version {match[2]}: {match[3]}")

    def _print(self, text: str) -> None:
        print(f"lepton-tf serve: {text}", file=self.stream, flush=True)


def attach_load_progress(stream=None) -> LoadProgress:
    """Prints the model manager's load lines whatever the log level; returns the handler."""
    logger = logging.getLogger("lepton_tf.server.model_manager")
    handler = LoadProgress(stream)
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
        logger.propagate = False  # INFO for our handler only, not the root's WARNING output
    return handler


def ready_line(host: str, grpc_port: int, rest_port: int | None, page: bool,
               tls: bool = False) -> str:
    """The one line that says the server answers, with every address to use.

    Args:
        host: the bound address (0.0.0.0/:: are shown as 127.0.0.1 for URLs).
        grpc_port, rest_port: the bound ports (`rest_port` None: no REST).
        page: the assistant's web page is served at / on the REST port.
        tls: URLs are https.

    Returns:
        e.g. "ready: gRPC 127.0.0.1:8500, REST http://127.0.0.1:8501, page
        http://127.0.0.1:8501/".
    """
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url_host = f"[{local}]" if ":" in local else local
    parts = [f"gRPC {local}:{grpc_port}"]
    if rest_port:
        base = f"{'https' if tls else 'http'}://{url_host}:{rest_port}"
        parts.append(f"REST {base}")
        if page:
            parts.append(f"page {base}/")
    return "lepton-tf serve: ready: " + ", ".join(parts)
