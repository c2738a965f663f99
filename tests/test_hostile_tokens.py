"""The hostile-input fuzz with identities: the REST and gRPC corpora replayed with
valid, wrong, malformed, repeated and URL-borne tokens against a server with a
tokens file, document permissions and the assistant, plus hostile filters from
valid callers. No answer may be a 5xx / INTERNAL / UNKNOWN or missing, and a
caller without a valid token is never answered anything but 401 /
UNAUTHENTICATED (or a clean refusal of the URL or the bytes)."""

import collections
import random
from concurrent import futures

import grpc
import hostile_corpus
import hostile_grpc
import numpy as np
import pytest
import requests
from conftest import free_port

import permission_fixtures as pf

SEED = 28
REST_REQUESTS, GRPC_CALLS = 900, 450
BAD_TOKENS = ["Bearer wrong", "", "Bearer ", "Basic YWxpY2U6cHc=", pf.ALICE,
              "Bearer " + "a" * 9000, "Bearer \u00ff\u00fe", "bearer " + pf.ALICE,
              "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer a.b.c",
              "Bearer " + pf.ALICE + " extra"]

ASCII_BAD_TOKENS = [t for t in BAD_TOKENS if t.isascii()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server.app import ModelServer, ServerOptions

    root = tmp_path_factory.mktemp("fuzz-tokens")
    tokens = root / "tokens.yaml"
    tokens.write_text(pf.tokens_yaml())
    index = pf.build(str(root / "idx"), pf.ALL)
    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), tokens_file=str(tokens),
                                    max_request_bytes=1 << 20, rest_idle_timeout_s=1.0,
                                    audit_log=str(root / "audit.jsonl")),
                      python_servables={"encoder": pf.HashEncoder(),
                                        "search": SearchServable(index, pf.embed)})
    mount_assistant(srv, dialogue_turns=["book a table"], domain_turns=[], search_k=3,
                    warm_up=False)
    srv.start()
    yield srv
    srv.stop(0)


def _with_token(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """`data` with an Authorization header (valid, bad, repeated or none) and
    sometimes a token in the URL; whether the request is authenticated."""
    choice = rng.random()
    valid = choice < 0.45
    if valid:
        headers = [f"Authorization: Bearer {rng.choice([pf.ALICE, pf.BOB])}".encode()]
    elif choice < 0.85:
        headers = [f"Authorization: {rng.choice(BAD_TOKENS)}".encode("latin-1", "replace")]
    elif choice < 0.92:  # two Authorization headers, one valid: refused, not guessed
        headers = [f"Authorization: Bearer {pf.ALICE}".encode(), b"Authorization: Bearer x"]
        valid = False
    else:
        headers = []
    line, sep, rest = data.partition(b"\r\n")
    if rng.random() < 0.1 and b" /" in line:  # a token in the URL: refused
        method, _, tail = line.partition(b" ")
        path, _, version = tail.rpartition(b" ")
        line = method + b" " + path + (b"&" if b"?" in path else b"?") + \
            b"access_token=" + pf.ALICE.encode() + b" " + version
    return b"\r\n".join([line] + headers) + sep + rest, valid


def test_hostile_rest_requests_with_tokens(server):
    rng = random.Random(SEED)
    corpus = []
    for _ in range(REST_REQUESTS):
        kind, data = hostile_corpus.rest_request(rng)
        data, valid = _with_token(data, rng)
        corpus.append((kind, data, valid))

    def one(item):
        kind, data, valid = item
        raw = hostile_corpus.send_raw("127.0.0.1", server.rest_port, data)
        problem = hostile_corpus.judge_rest(raw, data.startswith(b"HEAD "))
        status = hostile_corpus.status_of(raw)
        # The public page, and OPTIONS (the methods a path allows: a browser asks it
        # without credentials), are the only answers without a token.
        target = (data.split(b" ", 2) + [b"", b""])[1].split(b"?")[0]
        public = data.startswith(b"OPTIONS ") or target in (b"/", b"/assistant")
        if problem is None and not valid and status in range(200, 300) and not public:
            problem = f"answered {status} without a valid token"
        return status, None if problem is None else (kind, f"{problem} <- {data[:100]!r}")

    with futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, corpus))
    problems = [p for _, p in answers if p is not None]
    assert not problems, hostile_corpus.report(problems, len(corpus))
    statuses = collections.Counter(s for s, _ in answers)
    assert statuses[401] >= 200 and statuses[400] >= 50, statuses


def test_hostile_grpc_calls_with_tokens(server):
    rng = random.Random(SEED)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    corpus = []
    for _ in range(GRPC_CALLS):
        method, data, timeout = hostile_grpc.grpc_call(rng)
        r = rng.random()
        # (Non-ASCII metadata never leaves a gRPC client: it fails there, INTERNAL.)
        metadata = (("authorization", f"Bearer {rng.choice([pf.ALICE, pf.BOB])}"),) \
            if r < 0.5 else (("authorization", rng.choice(ASCII_BAD_TOKENS)),) if r < 0.9 \
            else ()
        corpus.append((method, data, timeout, metadata))

    def one(item):
        method, data, timeout, metadata = item
        code, details = hostile_grpc.send_call(channel, method, data, timeout, metadata)
        valid = any(v in (f"Bearer {pf.ALICE}", f"Bearer {pf.BOB}") for _, v in metadata)
        if not valid:
            # Metadata over 8 KiB is refused by gRPC's transport before any server
            # code runs (HTTP/2's header list limit: REST's 431).
            oversized = sum(len(k) + len(v) for k, v in metadata) > 8192
            ok = code == grpc.StatusCode.UNAUTHENTICATED or (
                code == grpc.StatusCode.DEADLINE_EXCEEDED and timeout < 0.01) or (
                code == grpc.StatusCode.RESOURCE_EXHAUSTED and oversized)
            return None if ok else (method, f"{code.name} without a valid token "
                                            f"({metadata[:1]!r:.60}): {details[:100]}")
        return hostile_grpc.judged(method, data, code, details)

    problems = hostile_grpc.problems_of(channel, corpus, one)
    assert not problems, hostile_corpus.report(problems, len(corpus))


FILTERS = ['{"$readers": ["board"]}', '{"$readers": "*"}', '{"$x": 1}', '{"doc_id": []}',
           '[1, 2]', '{"doc_id": {"$ne": 1}}', "not json", '{"title": null}',
           '{"source": "' + "a" * 5000 + '"}', '{"\\u0000": 1}', '{"doc_id": "board-merger"}']


def test_hostile_filters_from_valid_callers(server):
    client_rng = random.Random(SEED)
    for n in range(60):
        token = client_rng.choice([pf.ALICE, pf.BOB])
        body = {"signature_name": "search_options",
                "inputs": {"query": [client_rng.choice(pf.PROBES)], "k": client_rng.choice(
                    [1, 5, 1000]), "mode": client_rng.choice(["dense", "bm25", "hybrid"]),
                    "filter": client_rng.choice(FILTERS)}}
        r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/models/search:predict",
                          json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code in (200, 400), (r.status_code, r.text[:200])
        user = "alice" if token == pf.ALICE else "bob"
        assert not pf.leaked(user, r.text), (body, r.text[:300])
        if r.status_code == 400:
            assert "\n" not in r.json()["error"]
        else:
            ids = {d for d in np.asarray(r.json()["outputs"]["doc_ids"]).reshape(-1) if d}
            assert ids <= pf.READABLE[user]
