"""TF Serving's REST API on a threaded standard-library HTTP server.

`GET /v1/models/{name}[/versions/{v}|/labels/{l}]` (status), `.../metadata`,
`POST ...:predict|:classify|:regress`, and the Prometheus endpoint. Errors
are `{"error": "..."}` bodies with TF Serving's HTTP status for the code.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


from lepton_tf.server import deadline, metadata, rest_json
from lepton_tf.server.errors import ServingError, internal, invalid_argument

log = logging.getLogger(__name__)

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)"
                   r"(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
                   r"(?:(?P<meta>/metadata)|:(?P<method>[A-Za-z]+))?$")
_APIS = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
_MAX_VERSION = 2**63 - 1


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
        if not version.isdigit():
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lepton-tf"
    timeout = 60  # seconds a client may stall mid-request before its thread is freed
    core = None       # set on the subclass made per server
    options = None

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            # The TLS handshake runs here, in this connection's thread, so a client
            # that stalls it cannot hold up the accept loop.
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):  # quiet: one line per request is too much
        log.debug("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type="application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, doc: dict) -> None:
        self._send(status, json.dumps(doc, ensure_ascii=False).encode("utf-8"))

    def _error(self, error: ServingError) -> None:
        self._send_json(error.http_status, {"error": error.message})

    def _authorised(self) -> bool:
        token = self.options.auth_token
        if not token:
            return True
        got = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(got, f"Bearer {token}".encode()):
            return True
        self._send_json(401, {"error": "Missing or invalid bearer token."})
        return False

    def _extra_route(self, method: str, body: bytes | None = None) -> bool:
        """Runs a route added by `ModelServer.add_rest_route`; False if none matches."""
        route = getattr(self.core, "rest_routes", {}).get((method, self.path.split("?")[0]))
        if route is None:
            return False
        handler, public = route
        if public or self._authorised():
            try:
                handler(self, body if body is not None else b"")
            except Exception:  # noqa: BLE001 - never let a request kill the server
                log.exception("REST %s %s failed", method, self.path)
                self.close_connection = True
        return True

    def do_GET(self):
        if self.options.metrics_path and self.path == self.options.metrics_path:
            self._send(200, self.core.metrics.exposition(), self.core.metrics.content_type)
            return
        if self._extra_route("GET"):
            return
        if self._authorised():
            self._dispatch("GET", b"")

    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_json(400, {"error": "Malformed request: bad Content-Length header."})
            return
        if length > self.options.max_request_bytes:
            self.close_connection = True  # do not read a body that large
            self._send_json(413, {"error": f"Request body of {length} bytes exceeds the "
                                           f"maximum of {self.options.max_request_bytes} bytes."})
            return
        body = self.rfile.read(length) if length else b""
        if self._extra_route("POST", body):
            return
        if self._authorised():
            self._dispatch("POST", body)

    def _dispatch(self, http_method: str, body: bytes) -> None:
        start, name, version, api, code = time.monotonic(), "", None, "REST", "OK"
        try:
            name, number, label, action = parse_path(http_method, self.path.split("?")[0])
            api = _APIS.get(action, "GetModelMetadata" if action == "metadata" else
                            "GetModelStatus")
            if action == "status":
                if label:
                    number = self.core.manager.label_version(name, label)
                doc = metadata.status_json(self.core.manager.status(name, number))
            else:
                timeout_ms = self.options.rest_api_timeout_in_ms
                with deadline.scope(timeout_ms / 1e3 if timeout_ms > 0 else None), \
                        self.core.manager.servable(name, number, label) as servable:
                    version = servable.version
                    doc = self._run(action, servable, body)
            self._send_json(200, doc)
        except ServingError as e:
            code = e.code.name
            self._error(e)
        except Exception as e:  # noqa: BLE001 - never let a request kill the server
            log.exception("REST %s %s failed", http_method, self.path)
            code = "INTERNAL"
            self._error(internal(f"{type(e).__name__}: {e}"))
        finally:
            if name:
                self.core.metrics.observe(name, version, api, "REST", code,
                                          time.monotonic() - start)

    def _run(self, action: str, servable, body: bytes) -> dict:
        if action == "metadata":
            return metadata.metadata_json(servable)
        return rest_json.run_action(action, servable, body,
                                    self.core.options.enable_signature_method_name_check)


class RestServer:
    """The REST front of a server core.

    Args:
        core: has `manager` and `metrics`.
        host, port: where to listen (port 0: any free port, see `port`).
        options: `ServerOptions` (auth token, body limit, metrics path, TLS files).
    """

    def __init__(self, core, host: str, port: int, options):
        handler = type("Handler", (_Handler,), {"core": core, "options": options})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        if options.ssl_cert_file:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(options.ssl_cert_file, options.ssl_key_file)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True,
                                                    do_handshake_on_connect=False)
        self.httpd.handle_error = lambda request, address: log.info(
            "REST connection from %s dropped", address)  # e.g. a failed TLS handshake
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="rest")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
