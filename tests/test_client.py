"""ChatClient, SearchClient and the serve/chat/search commands against an in-process server."""

import os
import subprocess
import time

import grpc
import pytest

from conftest import free_port
from fake_servables import FakeChat, FakeEncoder, FakeSearch


@pytest.fixture(scope="module")
def server():
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import local_embedder

    srv = ModelServer(ServerOptions(port=0, rest_api_port=0), python_servables={
        "chat": FakeChat(), "encoder": FakeEncoder(),
        "search": lambda s: FakeSearch(local_embedder(s.manager))}).start()
    yield srv
    srv.stop()


@pytest.fixture
def target(server):
    return f"127.0.0.1:{server.grpc_port}"


def test_chat_client_multi_turn_and_generate(target):
    from lepton_tf.client import ChatClient

    client = ChatClient(target)
    assert client.send("hello") == "you said: hello (turn 1)"
    assert client.send("and again") == "you said: and again (turn 3)"
    assert client.turns[:2] == [("USER", "hello"), ("SYSTEM", "you said: hello (turn 1)")]
    assert client.send("x", max_new_tokens=5).endswith("max_new_tokens=5")
    client.reset()
    assert client.reply(["a", "[USER] b [SYSTEM] c"]) == ["you said: a (turn 1)",
                                                          "you said: c (turn 2)"]
    assert client.turns == []


def test_search_client(target):
    from lepton_tf.client import SearchClient

    hits = SearchClient(target).search("I lost my card", k=2)
    assert [h.doc_id for h in hits][0] == "d3" and len(hits) == 2
    assert hits[0].title == "Card lost" and hits[0].score >= hits[1].score
    batch = SearchClient(target).search_batch(["password", "account"], k=1)
    assert [b[0].doc_id for b in batch] == ["d1", "d2"]


def test_retries_only_unavailable(target):
    """gRPC's retry policy repeats a call the server answered UNAVAILABLE (it
    did not run), up to `retries` times, and nothing else."""
    from lepton_tf.client import ChatClient, PredictClient, SearchClient
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.server.errors import unavailable

    class Restarting(FakeChat):
        """UNAVAILABLE for the first `failures` calls."""

        def __init__(self):
            super().__init__()
            self.calls, self.failures = 0, 0

        def run(self, signature_name, inputs):
            self.calls += 1
            if self.calls <= self.failures:
                raise unavailable("the model is restarting")
            return super().run(signature_name, inputs)

    chat = Restarting()
    srv = ModelServer(ServerOptions(port=0, rest_api_port=0),
                      python_servables={"chat": chat}).start()
    flaky = f"127.0.0.1:{srv.grpc_port}"
    try:
        chat.failures = 2
        assert ChatClient(flaky, retries=3, backoff_s=0.01).reply(["hi"]) == \
            ["you said: hi (turn 1)"]
        assert chat.calls == 3
        chat.calls, chat.failures = 0, 10
        with pytest.raises(grpc.RpcError) as info:
            ChatClient(flaky, retries=1, backoff_s=0.01).reply(["hi"])
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE and chat.calls == 2
        chat.calls = 0
        with pytest.raises(grpc.RpcError):
            ChatClient(flaky, retries=0).reply(["hi"])
        assert chat.calls == 1
    finally:
        srv.stop()
    with pytest.raises(grpc.RpcError) as info:
        PredictClient(f"127.0.0.1:{free_port()}", retries=3, backoff_s=0.1,
                      timeout_s=2).predict("chat", {})
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    client = SearchClient(target, model="nope", retries=4, backoff_s=5.0)
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        client.search("x")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert time.monotonic() - start < 2  # no backoff: NOT_FOUND is an answer


def test_tls(tmp_path):
    from lepton_tf.client import ChatClient
    from lepton_tf.server.app import ModelServer, ServerOptions

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), ssl_cert_file=str(cert),
                                    ssl_key_file=str(key)),
                      python_servables={"chat": FakeChat()}).start()
    try:
        client = ChatClient(f"localhost:{srv.grpc_port}", root_certificates=cert.read_bytes())
        assert client.reply(["hi"]) == ["you said: hi (turn 1)"]
        with pytest.raises(grpc.RpcError):
            ChatClient(f"localhost:{srv.grpc_port}", retries=0, timeout_s=2).reply(["hi"])
        import requests
        r = requests.post(f"https://localhost:{srv.rest_port}/v1/models/chat:predict",
                          json={"instances": ["hi"]}, verify=str(cert), timeout=10)
        assert r.json() == {"predictions": ["you said: hi (turn 1)"]}
    finally:
        srv.stop()


def test_search_and_chat_commands(target, capsys, monkeypatch):
    from lepton_tf.cli import main

    assert main(["search", "my card is lost", "-k", "1", "--target", target]) == 0
    assert "d3" in capsys.readouterr().out
    lines = iter(["hello", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--target", target]) == 0
    assert "bot> you said: hello (turn 1)" in capsys.readouterr().out


def test_serve_flags_are_tf_servings(tmp_path):
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import build_server

    args = build_parser().parse_args([
        "serve", "--port=0", "--rest_api_port=0", "--model_name=half",
        f"--model_base_path={tmp_path}", "--enable_batching", "--enable_model_warmup=false",
        "--file_system_poll_wait_seconds=0"])
    assert (args.port, args.rest_api_port, args.host) == (0, 0, "127.0.0.1")
    server = build_server(args)
    assert server.options.enable_batching and not server.options.enable_model_warmup
    defaults = build_parser().parse_args(["serve", "--model_base_path=/m"])
    assert (defaults.port, defaults.rest_api_port, defaults.model_name) == (8500, 8501, "default")
    with pytest.raises(ValueError, match="--search-only needs"):
        build_server(build_parser().parse_args(["serve", "--search-only"]))


def _save_index(base: str, title_prefix: str = "") -> int:
    """Saves a new version of a real ScaNN index of the fake documents; returns it."""
    import numpy as np
    from fake_servables import DOCS
    from lepton_tf.index import Document, SearchIndex, save_index

    vectors = FakeEncoder().run("encode_query", {"text": np.array([d[2] for d in DOCS], object)})
    docs = [Document(d[0].decode(), d[2].decode(), title=title_prefix + d[1].decode(),
                     metadata={"source": f"{d[0].decode()}.md", "page": 1, "start": 0})
            for d in DOCS]
    path = save_index(SearchIndex.build(vectors["embedding"], docs), base)
    return int(os.path.basename(path))


@pytest.fixture
def index_dir(tmp_path):
    path = str(tmp_path / "index")
    _save_index(path)
    return path


@pytest.mark.parametrize("remote", [False, True])
def test_serve_search_index_in_process_and_search_only(server, target, index_dir, remote):
    """`serve --search_index`: the real SearchServable, embedding queries with the
    encoder in process, or (`--search-only --tf-serving`) on another server."""
    from lepton_tf.cli import build_parser
    from lepton_tf.client import SearchClient
    from lepton_tf.commands.serve import build_server

    flags = ["serve", "--port=0", f"--rest_api_port={free_port()}",
             f"--search_index={index_dir}", "--file_system_poll_wait_seconds=0.1"]
    flags += ["--search-only", f"--tf-serving={target}"] if remote else [
        f"--model_base_path={index_dir}/none"]
    search_server = build_server(build_parser().parse_args(flags))
    if not remote:  # the encoder lives in this server
        search_server.register_python_servable("encoder", FakeEncoder())
    search_server.start()
    try:
        client = SearchClient(f"127.0.0.1:{search_server.grpc_port}")
        hits = client.search("forgot my password", k=2)
        assert [h.doc_id for h in hits][0] == "d1" and hits[0].title == "Reset a password"
        assert hits[0].metadata == {"source": "d1.md", "page": 1, "start": 0}  # over gRPC
        assert hits[0].source == "d1.md p. 1"
        assert hits[0].dense_score is not None and hits[0].bm25_score > 0  # "password"
        # Filters and modes over gRPC (SearchClient) and REST.
        hits = client.search("forgot my password", k=3, filter={"doc_id": ["d2", "d3"]})
        assert sorted(h.doc_id for h in hits) == ["d2", "d3"]
        assert [h.doc_id for h in client.search("card", k=1, mode="bm25")] == ["d3"]
        import requests
        r = requests.post(f"http://127.0.0.1:{search_server.rest_port}/v1/models/search:predict",
                          json={"signature_name": "search_options", "inputs": {
                              "query": ["forgot my password"], "k": 2, "mode": "dense",
                              "filter": '{"doc_id": "d2"}'}}, timeout=10)
        assert r.status_code == 200, r.text
        outputs = r.json()["outputs"]
        assert outputs["doc_ids"] == [["d2"]] and len(outputs["dense_score"][0]) == 1
        r = requests.post(f"http://127.0.0.1:{search_server.rest_port}/v1/models/search:predict",
                          json={"signature_name": "search_options", "inputs": {
                              "query": ["x"], "k": 2, "mode": "dense", "filter": "[1]"}},
                          timeout=10)
        assert r.status_code == 400 and "JSON object" in r.json()["error"]
        # A new index version (as `lepton-tf index --add` writes) is served without a restart.
        new_version = _save_index(index_dir, title_prefix="v2: ")
        end = time.monotonic() + 20
        while ("search", new_version) not in search_server.manager.available():
            assert time.monotonic() < end, "new index version not loaded"
            time.sleep(0.05)
        assert client.search("forgot my password", k=1)[0].title == "v2: Reset a password"
    finally:
        search_server.stop()
