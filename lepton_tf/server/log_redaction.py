"""Personal data out of the server's logs: every emitted record is redacted.

A request's text can reach a log line (an error message quoting a bad input,
a model name, an exception's text in a traceback). `install` replaces the
process's log record factory, so every record any logger emits (this
package's, gRPC's, aiohttp's) has its message and its traceback text passed
through `text.redaction.redact` before a handler writes it anywhere. Records
below a logger's level are never built, so they cost nothing.
"""

from __future__ import annotations

import logging
import threading

from lepton_tf.text.redaction import DEFAULT_POLICY, RedactionPolicy, redact

_lock = threading.Lock()
_installed: dict = {}


def install(policy: RedactionPolicy = DEFAULT_POLICY) -> None:
    """Redacts every log record from now on (idempotent; the last policy wins)."""
    with _lock:
        _installed["policy"] = policy
        if "previous" in _installed:
            return
        previous = logging.getLogRecordFactory()
        _installed["previous"] = previous

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            current = _installed.get("policy", DEFAULT_POLICY)
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string: keep it, redacted
                message = str(record.msg)
            record.msg, record.args = redact(message, current), ()
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info),
                                         current)
            return record
        logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Restores the record factory `install` replaced (tests)."""
    with _lock:
        previous = _installed.pop("previous", None)
        _installed.pop("policy", None)
        if previous is not None:
            logging.setLogRecordFactory(previous)
