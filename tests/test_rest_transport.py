"""The REST port's HTTP handling, on raw sockets: chunked bodies, HEAD, OPTIONS,
405 JSON, strict Content-Length, HTTP/1.0 streams, no leftover bytes read as a request,
414/431 JSON, idle and body timeouts, the connection cap."""

import json
import socket
import time

import pytest
from assistant_fakes import fake_models
from conftest import free_port
from hostile_corpus import http, send_raw

BODY = b'{"instances": ["hi"]}'
HI = {"predictions": ["you said: hi (turn 1)"]}


@pytest.fixture(scope="module")
def server():
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.server.app import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), rest_idle_timeout_s=1.0,
                                    rest_max_connections=8), python_servables=fake_models())
    mount_assistant(srv, dialogue_turns=["hello there"], search_k=3)
    srv.start()
    yield srv
    srv.stop(0)


def responses(raw: bytes) -> list[tuple[int, dict, bytes]]:
    """`(status, headers, body)` of each response in `raw` (Content-Length framed)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(headers.get("content-length", len(rest)))
        out.append((int(lines[0].split()[1]), headers, rest[:length]))
        raw = rest[length:]
    return out


def ask(server, data: bytes, timeout=10):
    return responses(send_raw("127.0.0.1", server.rest_port, data, timeout))


def test_chunked_body_is_read(server):
    chunked = b"5\r\n" + BODY[:5] + b"\r\n%x\r\n" % (len(BODY) - 5) + BODY[5:] + b"\r\n0\r\n\r\n"
    [(status, _, body)] = ask(server, http(path="/v1/models/chat:predict", body=chunked,
                                           headers={"Transfer-Encoding": "chunked"}))
    assert status == 200 and json.loads(body) == HI


def test_head_options_and_other_methods(server):
    [(status, headers, body)] = ask(server, http("HEAD", "/v1/models/chat"))
    assert status == 200 and body == b"" and headers["content-type"] == "application/json"
    [(status, headers, body)] = ask(server, http("OPTIONS", "/v1/models/chat:predict"))
    assert status == 204 and headers["allow"] == "GET, HEAD, POST, OPTIONS"
    for method in ("PUT", "DELETE", "PATCH", "TRACE"):
        [(status, headers, body)] = ask(server, http(method, "/v1/models/chat", BODY))
        assert status == 405 and headers["allow"] and "not allowed" in json.loads(body)["error"]


@pytest.mark.parametrize("value", ["+21", "2_1", "-1", "21, 21", "0x15", "abc"])
def test_content_length_is_strict(server, value):
    [(status, headers, body)] = ask(server, http(path="/v1/models/chat:predict", body=BODY,
                                                 headers={"Content-Length": value}))
    assert status == 400 and "Content-Length" in json.loads(body)["error"]
    assert headers["content-type"] == "application/json"


def test_leftover_bytes_are_not_read_as_a_request(server):
    smuggled = b"GET /v1/models/chat HTTP/1.1\r\nHost: x\r\n\r\n"
    # Both Content-Length and Transfer-Encoding: refused, connection closed.
    got = ask(server, http(path="/v1/models/chat:predict", body=b"0\r\n\r\n" + smuggled,
                           headers={"Transfer-Encoding": "chunked", "Content-Length": "5"}))
    assert [s for s, _, _ in got] == [400]
    # Bytes after the body that are not a request: 400 and closed (llhttp refuses the
    # whole segment), and the request behind them is never served.
    got = ask(server, http(path="/v1/models/chat:predict", body=BODY + b"XX " + smuggled,
                           headers={"Content-Length": str(len(BODY)),
                                    "Connection": "keep-alive"}))
    assert got[-1][0] == 400 and all(s in (200, 400) for s, _, _ in got)
    assert all(b"model_version_status" not in body for _, _, body in got)


def test_http10_stream_is_not_chunked(server):
    body = json.dumps({"session_id": "h10", "message": "reset password"}).encode()
    raw = send_raw("127.0.0.1", server.rest_port,
                   http(path="/v1/assistant:stream", body=body, version="HTTP/1.0"))
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") and b"chunked" not in head.lower(), payload[:300]
    events = [json.loads(line) for line in payload.splitlines() if line]
    assert events[0]["type"] == "sources" and events[-1]["type"] == "final"


def test_oversized_line_and_headers_are_json(server):
    [(status, headers, body)] = ask(server, http("GET", "/v1/models/" + "a" * 9000))
    assert status == 414 and "error" in json.loads(body)
    [(status, _, body)] = ask(server, http("GET", "/v1/models/chat", headers={"X": "a" * 9000}))
    assert status == 431 and "error" in json.loads(body)
    many = {f"X-{i}": "1" for i in range(150)}
    [(status, _, body)] = ask(server, http("GET", "/v1/models/chat", headers=many))
    assert status == 431 and "error" in json.loads(body)
    [(status, _, body)] = ask(server, http("GET", "/v1/models/chat/versions/%C2%B2"))
    assert status == 400 and "Malformed request" in json.loads(body)["error"]
    [(status, _, body)] = ask(server, http("GET", "/v1/models/chat", version="HTTP/9.x"))
    assert status == 400 and json.loads(body)["error"].startswith("Malformed request")


def test_stalled_body_and_idle_connection_are_closed(server):
    start = time.monotonic()
    [(status, _, body)] = ask(server, http(path="/v1/models/chat:predict", body=BODY[:5],
                                           length=False, headers={"Content-Length": "21"}))
    assert status == 408 and time.monotonic() - start < 5
    with socket.create_connection(("127.0.0.1", server.rest_port), timeout=10) as s:
        s.sendall(b"GET /v1/models/chat HTTP/1.1\r\n")  # never finished
        start = time.monotonic()
        assert s.recv(1000) == b"" and time.monotonic() - start < 5


def test_connections_past_the_cap_get_503(server):
    held = [socket.create_connection(("127.0.0.1", server.rest_port)) for _ in range(8)]
    try:
        time.sleep(0.2)
        [(status, _, body)] = ask(server, http("GET", "/v1/models/chat"))
        assert status == 503 and "Too many open connections" in json.loads(body)["error"]
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    [(status, _, _)] = ask(server, http("GET", "/v1/models/chat"))
    assert status == 200
