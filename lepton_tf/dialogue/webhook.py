"""A backend reached over HTTP(S): the business's own action server.

The contract, version 1 (in the spirit of Rasa's action server): the manager POSTs

    {"version": "1", "service": "Restaurants_1", "intent": "ReserveRestaurant",
     "transactional": true, "idempotency_key": "session-7:4",
     "arguments": {"restaurant_name": "Arcadia", "city": "San Jose", "date": "2026-12-08",
                   "time": "19:00", "party_size": "2"},
     "selected": {"restaurant_name": "Arcadia", "price_range": "expensive", ...}}

with ``Content-Type: application/json``, ``Authorization: Bearer <token>`` when a
token is configured, and the key again as the ``Idempotency-Key`` header. The
server answers ``200`` with ``{"version": "1", "results": [{slot: value, ...}, ...]}``:
the matching entities of a search, the booked record of a transaction (no row: the
business declined it). ``selected`` is the search result the user chose, if any
({} otherwise). Any other status, or a body that is not that, is an error;
``{"error": "..."}`` in it is kept as the detail. Dates are ISO ``YYYY-MM-DD``,
times ``HH:MM`` (24 h), already resolved from "tomorrow" or "7 pm".

Each attempt has a timeout. A search is retried (connection refused or reset, a
timeout, 502/503/504); a transaction is retried only when the server is declared to
honour the idempotency key (``idempotent_transactions``), since otherwise a retry
after a lost answer could book twice.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from lepton_tf.dialogue.backend import (BAD_RESPONSE, FAILED, TIMEOUT, UNREACHABLE, BackendCall,
                                        BackendError, string_rows)

CONTRACT_VERSION = "1"
MAX_RESPONSE_BYTES = 1 << 20
RETRY_STATUSES = (502, 503, 504)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class WebhookBackend:
    """POSTs each call to ``url`` (see the module docstring for the contract).

    Args:
        url: ``https://...`` (or ``http://`` to a loopback host, for development).
        token: the bearer token ("" for none).
        timeout_s: each attempt's timeout.
        retries: extra attempts for a call that may be retried.
        backoff_s: the wait before the first retry (doubled each time).
        idempotent_transactions: the server honours ``Idempotency-Key``, so a
            transaction may be retried too.
        ca_file: a CA bundle to verify the server's certificate with (None: the
            system's).

    Raises:
        ValueError: not an http(s) URL, or a token or plain HTTP to a host that
            is not loopback (a token must never cross a network in clear).
    """

    def __init__(self, url: str, token: str = "", timeout_s: float = 5.0, retries: int = 1,
                 backoff_s: float = 0.2, idempotent_transactions: bool = False,
                 ca_file: str | None = None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"webhook url must be http(s)://HOST/..., got {url!r}")
        if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
            raise ValueError(f"webhook {parsed.hostname}: plain http only to a loopback host; "
                             "use https")
        if timeout_s <= 0 or retries < 0:
            raise ValueError("webhook timeout_s must be > 0 and retries >= 0")
        self.url, self.token, self.timeout_s = url, token, timeout_s
        self.retries, self.backoff_s = retries, backoff_s
        self.idempotent_transactions = idempotent_transactions
        self._context = ssl.create_default_context(cafile=ca_file) \
            if parsed.scheme == "https" else None

    def _request(self, call: BackendCall) -> urllib.request.Request:
        body = json.dumps({"version": CONTRACT_VERSION, **call.to_json()}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key
        return urllib.request.Request(self.url, body, headers, method="POST")

    def call(self, request: BackendCall) -> list[dict[str, str]]:
        """The result rows from the server.

        Raises:
            BackendError: ``timeout``, ``unreachable``, ``failed`` (a non-200
                answer) or ``bad_response``, after the retries allowed.
        """
        may_retry = not request.transactional or self.idempotent_transactions
        attempts = 1 + (self.retries if may_retry else 0)
        wait = self.backoff_s
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(request)
            except _Retryable as e:
                if attempt == attempts:
                    raise e.error from None
            time.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")

    def _attempt(self, request: BackendCall) -> list[dict[str, str]]:
        try:
            with urllib.request.urlopen(self._request(request), timeout=self.timeout_s,
                                        context=self._context) as response:
                body = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as e:
            detail = _error_detail(e)
            error = BackendError(FAILED, f"webhook answered {e.code}: {detail}")
            if e.code in RETRY_STATUSES:
                raise _Retryable(error) from None
            raise error from None
        except (TimeoutError, socket.timeout):
            raise _Retryable(BackendError(TIMEOUT, f"webhook: no answer in {self.timeout_s:g} s")) \
                from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise _Retryable(BackendError(
                    TIMEOUT, f"webhook: no answer in {self.timeout_s:g} s")) from None
            if isinstance(e.reason, ssl.SSLError):
                raise BackendError(UNREACHABLE, f"webhook TLS: {e.reason}") from None
            raise _Retryable(BackendError(UNREACHABLE, f"webhook: {e.reason}")) from None
        except (ConnectionError, OSError) as e:
            raise _Retryable(BackendError(UNREACHABLE, f"webhook: {e}")) from None
        if len(body) > MAX_RESPONSE_BYTES:
            raise BackendError(BAD_RESPONSE, f"webhook answer over {MAX_RESPONSE_BYTES} bytes")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BackendError(BAD_RESPONSE, f"webhook answer is not JSON: {e}") from None
        if not isinstance(payload, dict) or "results" not in payload:
            raise BackendError(BAD_RESPONSE, "webhook answer has no 'results'")
        if str(payload.get("version", CONTRACT_VERSION)) != CONTRACT_VERSION:
            raise BackendError(BAD_RESPONSE, f"webhook speaks contract version "
                                             f"{payload.get('version')!r}, not {CONTRACT_VERSION}")
        return string_rows(payload["results"], "webhook answer")


class _Retryable(Exception):
    def __init__(self, error: BackendError):
        super().__init__(str(error))
        self.error = error


def _error_detail(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read(4096).decode("utf-8"))
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"][:200]
    except (ValueError, OSError):
        pass
    return error.reason if isinstance(error.reason, str) else str(error.code)
