"""TF Serving's REST API on the aiohttp transport (`http_transport`).

`GET /v1/models/{name}[/versions/{v}|/labels/{l}]` (status), `.../metadata`,
`POST ...:predict|:classify|:regress`, the Prometheus endpoint and routes added
with `ModelServer.add_rest_route`. Errors are `{"error": "..."}` bodies with TF
Serving's HTTP status for the code; HEAD is GET without a body, OPTIONS lists
the methods, any other method is 405. Model work runs in a bounded thread pool
under the request's deadline (`--rest_api_timeout_in_ms`, counted from arrival).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
from concurrent import futures

from aiohttp import web

from lepton_tf.server import audit, deadline, identity, metadata, rest_json
from lepton_tf.server.errors import ServingError, deadline_exceeded, internal, invalid_argument
from lepton_tf.server.http_transport import (HttpTransport, ThreadReply, TransportLimits,
                                             error_response, json_response)

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)"
                   r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                   r"(?:(?P<meta>/metadata)|:(?P<method>[A-Za-z]+))?$")
_APIS = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
_MAX_VERSION = 2**63 - 1
_ALLOW = "GET, HEAD, POST, OPTIONS"
# Query parameters that would carry a credential: URLs end up in proxies' and
# browsers' logs and histories, so such a request is refused, never read.
CREDENTIAL_PARAMS = frozenset({"token", "access_token", "auth", "auth_token", "authorization",
                               "bearer", "jwt", "id_token", "api_key", "apikey", "key"})


def parse_path(http_method: str, path: str):
    """`(name, version, label, action)` of a `/v1/models` URL.

    Raises:
        ServingError: INVALID_ARGUMENT "Malformed request" as TF Serving.
    """
    match = _PATH.match(path)
    if path.rstrip("/") == "/v1/models" and http_method == "GET":
        raise invalid_argument("Missing model name in request.")
    if not match:
        raise invalid_argument(f"Malformed request: {http_method} {path}")
    version = match.group("version")
    if version is not None:
        if not (version.isascii() and version.isdigit()):
            raise invalid_argument(f"Malformed request: {http_method} {path}")
        if int(version) > _MAX_VERSION:
            raise invalid_argument(f"Failed to convert version: {version}")
        version = int(version)
    method = match.group("method")
    if http_method == "GET" and method is None:
        action = "metadata" if match.group("meta") else "status"
    elif http_method == "POST" and method in _APIS and not match.group("meta"):
        action = method
    else:
        raise invalid_argument(f"Malformed request: {http_method} {path}")
    return match.group("name"), version, match.group("label"), action


class _Refused(Exception):
    """Ends a request early with a ready response (auth, body limits)."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


class RestServer:
    """The REST front of a server core.

    Args:
        core: has `manager`, `metrics` and `rest_routes`.
        host, port: where to listen (port 0: any free port, see `port` after `start`).
        options: `ServerOptions` (auth token, body limit, timeouts, connection
            limits, metrics path, TLS files).
    """

    def __init__(self, core, host: str, port: int, options):
        self.core, self.options = core, options
        self.pool = futures.ThreadPoolExecutor(options.rest_max_threads,
                                               thread_name_prefix="rest")
        self.limits = TransportLimits(max_connections=options.rest_max_connections,
                                      idle_timeout_s=options.rest_idle_timeout_s,
                                      body_timeout_s=options.rest_idle_timeout_s)
        context = None
        if options.ssl_cert_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(options.ssl_cert_file, options.ssl_key_file)
        self.transport = HttpTransport(self.handle, host, port, self.limits, context)
        self.port = None

    def start(self) -> None:
        self.transport.start()
        self.port = self.transport.port

    def stop(self) -> None:
        self.transport.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- the request's way --------------------------------------------
    async def handle(self, request):
        """Answers one request (the transport's handler)."""
        arrived = time.monotonic()
        try:
            return await self._route(request, arrived)
        except _Refused as refused:
            return refused.response
        except ServingError as e:
            return error_response(e.http_status, e.message)

    async def _route(self, request, arrived: float):
        method, path = request.method, request.raw_path.split("?")[0]
        if CREDENTIAL_PARAMS & {name.lower() for name in request.query}:
            return error_response(400, "Send the token in the Authorization header "
                                       "('Authorization: Bearer TOKEN'), never in the URL.")
        if method == "OPTIONS":
            return web.Response(status=204, headers={"Allow": _ALLOW})
        if method not in ("GET", "HEAD", "POST"):
            return error_response(405, f"Method {method[:32]} is not allowed; use {_ALLOW}.",
                                  headers={"Allow": _ALLOW})
        lookup = "GET" if method == "HEAD" else method
        if self.options.metrics_path and path == self.options.metrics_path and lookup == "GET":
            self._principal(request)
            return web.Response(body=self.core.metrics.exposition(),
                                headers={"Content-Type": self.core.metrics.content_type})
        route = getattr(self.core, "rest_routes", {}).get((lookup, path))
        principal = identity.SERVER
        if route is None or not route[1]:  # public routes: a static page
            principal = self._principal(request)
        body = await self._body(request) if method == "POST" else b""
        timeout_ms = self.options.rest_api_timeout_in_ms
        at = arrived + timeout_ms / 1e3 if timeout_ms > 0 else None
        cancelled = threading.Event()
        if route is not None:
            return await self._run_route(request, route[0], body, at, cancelled, principal)
        work = asyncio.get_running_loop().run_in_executor(
            self.pool, self._dispatch, lookup, path, body, at, cancelled, principal)
        try:
            status, doc = await asyncio.wait_for(
                work, None if at is None else max(0.0, at - time.monotonic()) + 0.05)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            cancelled.set()  # the worker stops at its next deadline check
            if asyncio.current_task().cancelling():
                raise
            error = deadline_exceeded()
            return error_response(error.http_status, error.message)
        return json_response(status, doc)

    def _principal(self, request) -> identity.Principal:
        """The caller's principal (`Authorization: Bearer TOKEN`).

        Raises:
            _Refused: 401 for a missing, repeated or invalid token.
        """
        values = request.headers.getall("Authorization", [])
        principal = self.core.authenticators.principal(values[0] if len(values) == 1 else None)
        if principal is None:
            raise _Refused(error_response(401, "Missing or invalid bearer token.",
                                          headers={"WWW-Authenticate": "Bearer"}))
        return principal

    async def _body(self, request) -> bytes:
        """The whole body (chunked or not), within the size and time limits."""
        limit = self.options.max_request_bytes
        length = request.content_length
        if length is not None and length > limit:  # do not read a body that large
            raise _Refused(error_response(413, f"Request body of {length} bytes exceeds the "
                                               f"maximum of {limit} bytes (max_request_bytes).",
                                          close=True))
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                while chunk := await request.content.readany():
                    size += len(chunk)
                    if size > limit:
                        raise _Refused(error_response(
                            413, f"Request body exceeds the maximum of {limit} bytes "
                                 "(max_request_bytes).",
                            close=True))
                    chunks.append(chunk)
        except TimeoutError:
            raise _Refused(error_response(408, "Request body not received within "
                                               f"{self.limits.body_timeout_s:g} s.",
                                          close=True)) from None
        except (ConnectionError, ValueError) as e:  # a bad chunk or a short body
            raise _Refused(error_response(400, f"Malformed request body: {e}"[:300],
                                          close=True)) from None
        return b"".join(chunks)

    async def _run_route(self, request, handler, body: bytes, at, cancelled, principal):
        """Runs an `add_rest_route` handler in the pool, under the request's deadline
        (cancelled when the client leaves); it answers through a `ThreadReply`."""
        reply = ThreadReply(request, asyncio.get_running_loop(), self.limits.body_timeout_s)

        def run():
            try:
                with deadline.until(at, cancelled), identity.acting_as(principal), \
                        audit.scope(getattr(self.core, "audit", None)):
                    handler(reply, body)
            except ConnectionError:
                pass  # the client went away mid-stream
            except Exception:  # noqa: BLE001 - never let a request kill the server
                log.exception("REST route %s failed", request.path)
                if not reply.streaming:
                    reply.send_json(500, {"error": "Internal error in this route."})

        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, run)
        except asyncio.CancelledError:
            cancelled.set()  # the client went away
            raise
        if reply.streaming:
            try:
                await reply.response.write_eof()
            except ConnectionError:
                pass
        return reply.response or error_response(500, "The route sent no answer.")

    def _dispatch(self, http_method: str, path: str, body: bytes, at, cancelled,
                  principal=identity.SERVER):
        """`(HTTP status, JSON doc)` of a `/v1/models` request (in a pool thread)."""
        start, name, version, api, code = time.monotonic(), "", None, "REST", "OK"
        try:
            with deadline.until(at, cancelled), identity.acting_as(principal), \
                    audit.scope(getattr(self.core, "audit", None)):
                deadline.check()  # it waited in the pool past its deadline
                name, number, label, action = parse_path(http_method, path)
                api = _APIS.get(action, "GetModelMetadata" if action == "metadata" else
                                "GetModelStatus")
                if action == "status":
                    if label:
                        number = self.core.manager.label_version(name, label)
                    return 200, metadata.status_json(self.core.manager.status(name, number))
                with self.core.manager.servable(name, number, label) as servable:
                    version = servable.version
                    return 200, self._run(action, servable, body)
        except ServingError as e:
            code = e.code.name
            return e.http_status, {"error": e.message}
        except Exception as e:  # noqa: BLE001 - never let a request kill the server
            log.exception("REST %s %s failed", http_method, path[:200])
            code = "INTERNAL"
            error = internal(f"{type(e).__name__}: {e}")
            return error.http_status, {"error": error.message}
        finally:
            if name:
                self.core.metrics.observe(name, version, api, "REST", code,
                                          time.monotonic() - start)

    def _run(self, action: str, servable, body: bytes) -> dict:
        if action == "metadata":
            return metadata.metadata_json(servable)
        return rest_json.run_action(action, servable, body,
                                    self.options.enable_signature_method_name_check)
