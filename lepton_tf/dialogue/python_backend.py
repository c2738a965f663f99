"""A backend that is a Python function: ``package.module:function``.

The function takes a :class:`~lepton_tf.dialogue.backend.BackendCall` and returns
the result rows (a list of ``{slot: value}``). It runs in a worker thread under a
timeout, so a slow function gets the user an honest "couldn't reach it" instead of
a hung turn; it may raise ``BackendError`` itself to say what went wrong.
"""

from __future__ import annotations

import importlib
from concurrent import futures

from lepton_tf.dialogue.backend import FAILED, TIMEOUT, BackendCall, BackendError, string_rows


def load_callable(spec: str):
    """The function named ``module:function``.

    Raises:
        ValueError: a spec without ``:``, a module that does not import, or a name
            that is not a callable in it.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"python backend must be 'module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"python backend {spec!r}: cannot import {module_name}: {e}") from None
    fn = getattr(module, attribute, None)
    if not callable(fn):
        raise ValueError(f"python backend {spec!r}: {attribute} is not a function of {module_name}")
    return fn


class PythonBackend:
    """Calls ``function(call)`` with a timeout.

    Args:
        function: the callable, or its ``module:function`` spec.
        timeout_s: how long one call may take.
    """

    def __init__(self, function, timeout_s: float = 5.0):
        self.function = load_callable(function) if isinstance(function, str) else function
        self.timeout_s = timeout_s
        self._pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="py-backend")

    def call(self, request: BackendCall) -> list[dict[str, str]]:
        """The function's rows.

        Raises:
            BackendError: ``timeout``, ``failed`` (it raised), ``bad_response``.
        """
        future = self._pool.submit(self.function, request)
        try:
            rows = future.result(timeout=self.timeout_s)
        except futures.TimeoutError:
            future.cancel()
            raise BackendError(TIMEOUT, f"no answer in {self.timeout_s:g} s") from None
        except BackendError:
            raise
        except Exception as e:  # the business's code: any failure is a failed call
            raise BackendError(FAILED, f"{type(e).__name__}: {e}") from None
        return string_rows(rows, "python backend")
