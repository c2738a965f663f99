"""A seeded corpus of hostile REST requests (raw HTTP bytes) and its sender/judge.

Every class of bad request we know of: bad JSON (lone surrogates, deep
nesting, huge numbers, bad base64, wrong types), tf.Example integers out of
int64 range, odd version strings (`²`), long names, every HTTP method, bad
HTTP versions and Content-Length values, chunked bodies, leftover bytes,
oversized lines and headers, stalled bodies, garbage and TLS bytes, bad
assistant stream bodies, and batches past the row limit. `judge_rest` says
what is wrong with an answer (None when it is a clean error or a success).
The gRPC half is `hostile_grpc`.
"""

import collections
import json
import random
import re
import socket

MODELS = ["half", "words", "tf1", "chat", "search", "encoder", "nope", "assistant"]
VERBS = ["predict", "classify", "regress"]
STRING_SIGNATURES = ["serving_default", "encode_query", "encode_document", "generate", "score"]
LONG = "m" * 5000


def http(method="POST", path="/v1/models/half:predict", body=b"", headers=None,
         version="HTTP/1.1", length=True) -> bytes:
    """One raw request (`Connection: close` unless a header says otherwise)."""
    body = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    lines = [f"{method} {path} {version}".encode("utf-8", "surrogatepass")
             if isinstance(path, str) else method.encode() + b" " + path + b" " +
             version.encode(), b"Host: 127.0.0.1"]
    headers = dict(headers or {})
    headers.setdefault("Connection", "close")
    if length and body and "Transfer-Encoding" not in headers:
        headers.setdefault("Content-Length", str(len(body)))
    for key, value in headers.items():
        lines.append(f"{key}: {value}".encode("latin-1", "replace"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _deep(depth: int, leaf="1.0") -> str:
    return "[" * depth + leaf + "]" * depth


def _json_bodies(rng: random.Random) -> str:
    choice = rng.randrange(28)
    rows = [rng.uniform(-5, 5) for _ in range(rng.randrange(1, 4))]
    return [
        lambda: '{"instances": ["\\ud800"]}',
        lambda: '{"instances": [{"text": "\\udfff x"}]}',
        lambda: '{"signature_name": "\\ud800", "instances": [1.0]}',
        lambda: '{"\\ud834": 1, "instances": [1.0]}',
        lambda: '{"instances": ' + _deep(rng.choice([65, 66, 100, 200])) + "}",
        lambda: '{"inputs": ' + _deep(rng.choice([65, 80])) + "}",
        lambda: '{"instances": ' + _deep(rng.choice([1000, 10000])) + "}",
        lambda: json.dumps({"instances": [rng.choice([2**70, -2**64, 10**400 // 10**300])]}),
        lambda: '{"instances": [1e400, -1e400, NaN, Infinity]}',
        lambda: json.dumps({"instances": [{"b64": rng.choice(["!!", "a", "====", 5])}]}),
        lambda: json.dumps({"instances": [rng.choice([None, True, {}, [], "x", {"a": 1}])]}),
        lambda: json.dumps({"instances": [[1.0], [2.0, 3.0]]}),
        lambda: json.dumps({"inputs": {"x": rows, "extra": rows}}),
        lambda: json.dumps({"instances": [1.0] * rng.choice([8193, 9000, 20000])}),
        lambda: json.dumps({"inputs": {"query": ["a"] * 8200, "k": 1},
                            "signature_name": "search"}),
        lambda: json.dumps({"signature_name": rng.choice([LONG, 5, None, [], "\x00"]),
                            "instances": rows}),
        lambda: rng.choice(["", " ", "null", "[]", "1", '"x"', "{", '{"a":', "\ufeff{}",
                            '{"instances": [1.0]} trailing', "{'a': 1}"]),
        lambda: json.dumps({"instances": rows, "inputs": rows}),
        lambda: json.dumps({"inputs": {"context": ["hi"], "max_new_tokens": [2**40]},
                            "signature_name": "generate"}),
        lambda: json.dumps({"instances": [{"text": "a" * rng.randrange(1, 100)}] *
                            rng.randrange(1, 50)}),
        lambda: json.dumps({"instances": [rng.random() for _ in range(rng.randrange(1, 200))]}),
        lambda: json.dumps({"instances": [[[rng.random()]]] * 3}),
        # Strings of shapes a string signature does not declare: each of these
        # killed the process inside tensorflow-text or TensorFlow's conversion.
        lambda: '{"signature_name": "%s", "instances": [[]]}' % rng.choice(STRING_SIGNATURES),
        lambda: '{"signature_name": "%s", "inputs": %s}' % (
            rng.choice(STRING_SIGNATURES), rng.choice(['""', '"x"', "[]", '[[["x"]]]'])),
        lambda: '{"instances": [%s]}' % _deep(rng.choice([17, 33, 35, 64]), '"x"'),
        lambda: '{"inputs": %s}' % _deep(rng.choice([33, 40, 64]), '"x"'),
        lambda: '{"instances": ["", " ", "x"]}',
        lambda: '{"inputs": [{"b64": "/+4="}]}',
    ][choice]()


def _example_bodies(rng: random.Random) -> str:
    value = rng.choice([2**63, -2**63 - 1, 2**64 + 5, 10**30, [2**70], [1, 2**65],
                        [[1.0]], None, {"a": 1}, [1, "x"], [True, 1.5], "\\ud800", 1.0,
                        {"b64": "!!"}, [], 7])
    value = json.dumps(value) if value != "\\ud800" else '"\\ud800"'
    signature = rng.choice(["classify_x_to_y", "regress_x_to_y", "", "serving_default"])
    shape = rng.randrange(5)
    if shape == 0:
        return '{"signature_name": "%s", "examples": [{"x": %s}]}' % (signature, value)
    if shape == 1:
        return '{"signature_name": "%s", "context": {"x": %s}, "examples": [{}]}' % (
            signature, value)
    if shape == 2:
        return json.dumps({"signature_name": signature, "examples": rng.choice(
            [None, 5, "x", [1, 2], [[]], {}])})
    if shape == 3:
        return json.dumps({"signature_name": signature, "context": rng.choice([1, [], "x"]),
                           "examples": [{"x": 1.0}]})
    return '{"examples": [{"x": 1.0}], "context": {"\\ud800": 1}}'


def _url(rng: random.Random) -> str:
    model = rng.choice(MODELS)
    return rng.choice([
        f"/v1/models/{model}/versions/\u00b2",
        f"/v1/models/{model}/versions/%C2%B2",
        f"/v1/models/{model}/versions/\u0661",  # Arabic-Indic one
        f"/v1/models/{model}/versions/-1",
        f"/v1/models/{model}/versions/1.5",
        f"/v1/models/{model}/versions/{2**64}",
        f"/v1/models/{model}/versions/{rng.randrange(10**30)}",
        f"/v1/models/{model}/labels/%00",
        f"/v1/models/{model}/labels/{LONG}",
        f"/v1/models/{LONG}",
        f"/v1/models/{LONG}:predict",
        f"/v1/models/{model}:{rng.choice(['foo', 'PREDICT', '', 'predict:predict'])}",
        f"/v1/models/{model}/metadata:predict",
        f"/v1/models/{model}/",
        f"//v1//models//{model}",
        f"/v1/models/{model}?x=\u00b2",
        f"/v1/models/%2e%2e/{model}",
        "/v1/models",
        "/v1/models/",
        "*",
        "/" + "a" * 9000,
        f"/v1/models/{model}" + "/x" * 50,
    ])


def rest_request(rng: random.Random) -> tuple[str, bytes]:
    """One `(class, raw request)` drawn from every hostile class."""
    kind = rng.choices(["json", "examples", "url", "method", "framing", "stream",
                        "headers"], [30, 12, 14, 10, 18, 10, 6])[0]
    if kind == "json":
        model = rng.choice(MODELS)
        return kind, http("POST", f"/v1/models/{model}:predict", _json_bodies(rng))
    if kind == "examples":
        return kind, http("POST", f"/v1/models/tf1:{rng.choice(['classify', 'regress'])}",
                          _example_bodies(rng))
    if kind == "url":
        method = rng.choice(["GET", "POST"])
        return kind, http(method, _url(rng), '{"instances": [1.0]}' if method == "POST" else b"")
    if kind == "method":
        method = rng.choice(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT",
                             "FOO", "get", "PROPFIND", "SEARCH", "PURGE"])
        path = rng.choice(["/v1/models/half", "/v1/models/half:predict", "/",
                           "/v1/assistant:stream", "/monitoring/prometheus/metrics"])
        return kind, http(method, path, rng.choice([b"", b'{"instances": [1.0]}']))
    if kind == "stream":
        body = rng.choice([
            '{"session_id": "s", "message": ' + _deep(10000, '"x"') + "}",
            _deep(10000, "1"), '{"session_id": "\\ud800", "message": "hi"}',
            '{"session_id": "s", "message": "\\udc00"}', "[]", "null", "{", b"\xff\xfe",
            json.dumps({"session_id": "s"}), json.dumps({"session_id": 5, "message": "x"}),
            json.dumps({"session_id": "s", "message": "card " * rng.randrange(1, 300)}),
            json.dumps({"session_id": LONG, "message": "hello"})])
        return kind, http("POST", "/v1/assistant:stream", body)
    if kind == "headers":
        return kind, rng.choice([
            http("GET", "/v1/models/half", headers={"X-Big": "a" * 9000}),
            http("GET", "/v1/models/half", headers={f"X-{i}": "1" for i in range(150)}),
            http("GET", "/v1/models/half", headers={"Authorization": "Bearer \u00ff" * 10}),
            http("GET", "/v1/models/half", headers={"Content-Type": "\x7f"}),
            b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
            b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n",
            b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\nX:\x00y\r\nConnection: close\r\n\r\n",
        ])
    body = b'{"instances": [1.0]}'
    return kind, rng.choice([
        lambda: http(version=rng.choice(["HTTP/9.9", "HTTP/1.x", "HTTP/2.0", "HTTPS/1.1",
                                         "HTTP/1", "http/1.1", "HTTP/1.1 extra", ""]),
                     body=body),
        lambda: b"GET /v1/models/half\r\n\r\n",
        lambda: http(version="HTTP/1.0", body=body, headers={"Connection": "keep-alive"}),
        lambda: http(body=body, headers={"Content-Length": rng.choice(
            ["+20", "2_0", "-1", "abc", str(10**20), "20, 20", " 20", "0x14", "20.0"])}),
        lambda: http(body=b"", length=False, headers={"Content-Length": "99999999999"}),
        lambda: http(body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body),
                     headers={"Transfer-Encoding": "chunked"}),
        lambda: http(body=b"%x\r\n%s\r\n" % (len(body), body) * rng.randrange(1, 4) +
                     b"0\r\n\r\n", headers={"Transfer-Encoding": "chunked"}),
        lambda: http(body=rng.choice([b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n0\r\n\r\n",
                                      b"-1\r\n\r\n", b"ffffffffffffffffff\r\n"]),
                     headers={"Transfer-Encoding": "chunked"}),
        lambda: http(body=b"0\r\n\r\n", headers={"Transfer-Encoding": rng.choice(
            ["gzip, chunked", "chunked, gzip", "identity", "x"])}),
        lambda: http(body=body, headers={"Transfer-Encoding": "chunked",
                                         "Content-Length": str(len(body))}),
        lambda: http(body=body, headers={"Content-Length": "5", "Connection": "keep-alive"})
        + b"GET /v1/models/half HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        lambda: http(body=body + b"GET /v1/models/half HTTP/1.1\r\n\r\n", headers={
            "Content-Length": str(len(body))}),
        lambda: http(body=body[:5], length=False, headers={"Content-Length": "20"}),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) + b"\r\n\r\n",
        lambda: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(20),
        lambda: b"POST /v1/models/half:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n"
                b"Content-Length: 21\r\n\r\n" + body,
    ])()


_STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3}) ")


def report(problems: list, total: int) -> str:
    """The assertion message: how many of `total` answers were bad, by class, and a sample."""
    by_class = collections.Counter(kind for kind, _ in problems)
    sample = "\n".join(f"  [{kind}] {text}" for kind, text in problems[:15])
    return f"{len(problems)} of {total} bad answers {dict(by_class)}:\n{sample}"


def send_raw(host: str, port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Sends `data` on a new connection; returns all bytes until it closes (or times out)."""
    out = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except (TimeoutError, ConnectionError):
            pass
    return out


def judge_rest(raw: bytes, head_request: bool = False) -> str | None:
    """What is wrong with the first response in `raw`, or None if it is clean
    (`head_request`: the answer to HEAD has no body to check)."""
    match = _STATUS.match(raw)
    if not match:
        return f"no status line: {raw[:80]!r}"
    status = int(match.group(1))
    head, _, body = raw.partition(b"\r\n\r\n")
    if status >= 500:
        return f"status {status}: {body[:200]!r}"
    if b"<html" in raw[:4000].lower() or b"<!doctype" in raw[:4000].lower():
        return f"HTML page (status {status})"
    if status >= 400 and not head_request:
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        text = body[:int(length.group(1))] if length else body
        try:
            error = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):
            return f"status {status} without a JSON error: {text[:120]!r}"
        if "\n" in error or len(error) > 1200:
            return f"error message not one short line ({len(error)} chars)"
        if (status == 413) != bool(LIMIT_NAMED.search(error)):  # a size limit is 413, only it
            return f"status {status} for {error[:120]!r}"
    return None


# The request-size limits a refusal names; REST answers them 413.
LIMIT_NAMED = re.compile(r"\((max_batch_size|max_tensor_bytes|max_request_bytes)\)")


def status_of(raw: bytes) -> int | None:
    """The HTTP status of the first response in `raw` (None without a status line)."""
    match = _STATUS.match(raw)
    return int(match.group(1)) if match else None
