"""The REST port's HTTP/1.1 transport: aiohttp's low-level server on its own thread.

Why aiohttp: a maintained asyncio HTTP server whose request parser is llhttp
(Node.js's), strict about `Content-Length` (digits only) and
`Transfer-Encoding`; it reads chunked bodies, answers HTTP/1.0 clients without
chunked framing (a stream is close-delimited), sends no body for HEAD, keeps
connections alive with an idle timeout and caps the request line, header size
and header count. One event loop holds every connection, so a stalled client
costs a socket, not a thread; blocking model work runs in a bounded pool.

What this module adds on top: protocol errors answered as one-line JSON
(`{"error": ...}`, never aiohttp's text or HTML pages), a cap on open
connections (503 JSON past it), a deadline on reading a body, and
`ThreadReply`, which lets a blocking handler answer or stream from a worker
thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TransportLimits:
    """Connection-level limits of the REST port.

    Attributes:
        max_connections: open connections at most; more are answered 503 and closed.
        idle_timeout_s: a connection that sends no complete request (headers
            included) for this long is closed.
        body_timeout_s: reading one request body may take this long (else 408).
        max_line_bytes: the request line's limit (414 past it).
        max_header_bytes: one header line's limit (431 past it).
        max_headers: header lines at most (431 past it).
    """

    max_connections: int = 1024
    idle_timeout_s: float = 30.0
    body_timeout_s: float = 30.0
    max_line_bytes: int = 8190
    max_header_bytes: int = 8190
    max_headers: int = 100


def json_bytes(doc) -> bytes:
    """`doc` as UTF-8 JSON; text that cannot be UTF-8 (lone surrogates) is \\u-escaped."""
    try:
        return json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc).encode("ascii")


def json_response(status: int, doc, headers=None) -> web.Response:
    return web.Response(status=status, body=json_bytes(doc), content_type="application/json",
                        headers=headers)


def error_response(status: int, message: str, close: bool = False, headers=None):
    """`{"error": message}` with `status`; `close` ends the connection after it."""
    response = json_response(status, {"error": message}, headers)
    if close:
        response.force_close()
    return response


def _protocol_status(status: int, exc) -> int:
    if isinstance(exc, LineTooLong):  # the URL (414) or a header line (431)
        line = exc.args[0] if exc.args else b""
        return 414 if bytes(line[:1]) == b"/" or bytes(line[:4]).lower() == b"http" else 431
    if exc is not None and "too many headers" in str(exc).lower():
        return 431
    return status


class _JsonErrors(RequestHandler):
    """aiohttp's connection handler with its protocol-error pages as JSON."""

    def handle_error(self, request, status=500, exc=None, message=None):
        if request.writer.output_size > 0:
            raise ConnectionError("Response already started; cannot send the error")
        status = _protocol_status(status, exc)
        if status >= 500:
            self.log_exception("REST request failed", exc_info=exc)
            text = "Internal error while handling the request."
        else:
            log.debug("Malformed HTTP request: %s", exc or message)
            text = f"Malformed request: {getattr(exc, 'message', None) or message or exc}"
        text = " ".join(text.split())
        return error_response(status, (text.removesuffix(" ^"))[:500],
                              close=True)


class _Busy(asyncio.Protocol):
    """Answers a connection past the cap with 503 and closes it."""

    BODY = json_bytes({"error": "Too many open connections; try again later."})

    def connection_made(self, transport):
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json"
                        b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(self.BODY), self.BODY))
        transport.close()


class HttpTransport:
    """Serves `handler` (`async (web.BaseRequest) -> web.StreamResponse`).

    Args:
        handler: answers one request.
        host, port: where to listen (port 0: any free port, see `port`).
        limits: `TransportLimits`.
        ssl_context: serve HTTPS with it (None: plain HTTP).

    Raises:
        OSError: from `start`, when the address cannot be bound.
    """

    def __init__(self, handler, host: str, port: int, limits: TransportLimits,
                 ssl_context=None):
        self.handler, self.host, self.requested_port = handler, host, port
        self.limits, self.ssl_context = limits, ssl_context
        self.loop = asyncio.new_event_loop()
        self.port = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="rest-loop")
        self._server = self._listener = None

    def _handler_kwargs(self) -> dict:
        limits = self.limits
        return dict(keepalive_timeout=limits.idle_timeout_s, max_line_size=limits.max_line_bytes,
                    max_field_size=limits.max_header_bytes, max_headers=limits.max_headers,
                    access_log=None, lingering_time=1.0)

    def _protocol(self):
        if len(self._server.connections) >= self.limits.max_connections:
            return _Busy()
        return _JsonErrors(self._server, loop=self.loop, **self._handler_kwargs())

    async def _listen(self) -> None:
        self._server = web.Server(self.handler, handler_cancellation=True,
                                  **self._handler_kwargs())
        self._listener = await self.loop.create_server(
            self._protocol, self.host, self.requested_port, ssl=self.ssl_context,
            ssl_handshake_timeout=self.limits.idle_timeout_s if self.ssl_context else None,
            backlog=512, reuse_address=True)
        self.port = self._listener.sockets[0].getsockname()[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._listen())
        except BaseException as e:  # noqa: BLE001 - reported by start()
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise OSError(f"Could not serve REST on {self.host}:{self.requested_port}: "
                          f"{self._error}") from self._error

    async def _shutdown(self) -> None:
        self._listener.close()
        await self._server.shutdown(1.0)

    def stop(self) -> None:
        if self._listener is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class ThreadReply:
    """A response written from a worker thread: one whole body, or a stream.

    Args:
        request: the aiohttp request being answered.
        loop: the transport's event loop.
        write_timeout_s: a stream write that cannot finish in this long (a
            client that stopped reading) fails with `ConnectionError`.
    """

    def __init__(self, request, loop: asyncio.AbstractEventLoop, write_timeout_s: float = 30.0):
        self.request, self.loop, self.write_timeout_s = request, loop, write_timeout_s
        self.response: web.StreamResponse | None = None
        self.streaming = False

    @property
    def headers(self):
        return self.request.headers

    def send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """Answers `body` in one piece."""
        self.response = web.Response(status=status, body=body)
        self.response.content_type, _, charset = content_type.partition("; charset=")
        if charset:
            self.response.charset = charset

    def send_json(self, status: int, doc) -> None:
        self.response = json_response(status, doc)

    def _call(self, coroutine):
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(self.write_timeout_s)
        except TimeoutError:
            future.cancel()
            raise ConnectionError("client stopped reading") from None

    def start_stream(self, status: int, content_type: str, headers: dict | None = None) -> None:
        """Sends the headers of a streamed answer (chunked on HTTP/1.1)."""
        response = web.StreamResponse(status=status, headers=headers)
        response.content_type, _, charset = content_type.partition("; charset=")
        if charset:
            response.charset = charset
        self.response, self.streaming = response, True
        self._call(response.prepare(self.request))

    def write(self, data: bytes) -> None:
        """Sends one piece of a stream (flushed); `ConnectionError` if the client left."""
        self._call(self.response.write(data))
