"""`--auth_token` on every gRPC method (ModelService's HandleReloadConfigRequest and the
assistant's stream included) and every REST endpoint but the public web page,
which can send the token itself."""

import json
import urllib.request

import grpc
import hostile_grpc
import pytest
import requests
from assistant_fakes import fake_models
from conftest import free_port

from lepton_tf.client.assistant import FEEDBACK_METHOD, FORGET_METHOD

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.server.app import ModelServer, ServerOptions

    monitoring = tmp_path_factory.mktemp("auth") / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), auth_token=TOKEN,
                                    monitoring_config_file=str(monitoring),
                                    audit_log=str(monitoring.parent / "audit.jsonl")),
                      python_servables=fake_models())
    mount_assistant(srv, dialogue_turns=["hello there"], search_k=3)
    srv.start()
    yield srv
    srv.stop(0)


def _valid(method: str) -> bytes:
    from tensorflow_serving.apis import get_model_status_pb2
    if method == hostile_grpc.STATUS:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "chat"
        return request.SerializeToString()
    if method in (hostile_grpc.STREAM, FEEDBACK_METHOD, FORGET_METHOD):
        from google.protobuf import struct_pb2
        request = struct_pb2.Struct()
        request.update({"session_id": "a", "message": "hello"})
        return request.SerializeToString()
    return b"\x0a\x06\x0a\x04chat"  # model_spec { name: "chat" }: parses for every request


@pytest.mark.parametrize("method", hostile_grpc.METHODS + [hostile_grpc.STREAM, FEEDBACK_METHOD,
                                                           FORGET_METHOD])
def test_every_grpc_method_needs_the_token(server, method):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        data = _valid(method)
        for metadata in ((), (("authorization", "Bearer wrong"),),
                         (("authorization", TOKEN),)):
            with pytest.raises(grpc.RpcError) as info:
                if method == hostile_grpc.STREAM:
                    list(channel.unary_stream(method)(data, timeout=10, metadata=metadata))
                else:
                    channel.unary_unary(method)(data, timeout=10, metadata=metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED, method
        good = (("authorization", f"Bearer {TOKEN}"),)
        try:
            if method == hostile_grpc.STREAM:
                list(channel.unary_stream(method)(data, timeout=10, metadata=good))
            else:
                channel.unary_unary(method)(data, timeout=10, metadata=good)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.INTERNAL,
                            grpc.StatusCode.UNKNOWN), method


ENDPOINTS = [("GET", "/v1/models/chat"), ("GET", "/v1/models/chat/versions/1"),
             ("GET", "/v1/models/chat/metadata"), ("HEAD", "/v1/models/chat"),
             ("POST", "/v1/models/chat:predict"), ("POST", "/v1/models/chat:classify"),
             ("POST", "/v1/models/chat:regress"), ("POST", "/v1/assistant:stream"),
             ("POST", "/v1/assistant:feedback"), ("POST", "/v1/assistant:forget"),
             ("GET", "/report"),
             ("GET", "/metrics"), ("GET", "/v1/models/nope"), ("GET", "/v1/audit")]


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_every_rest_endpoint_needs_the_token(server, method, path):
    url = f"http://127.0.0.1:{server.rest_port}{path}"
    body = json.dumps({"instances": ["hi"], "session_id": "r", "message": "hello"})
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = requests.request(method, url, data=body if method == "POST" else None,
                             headers=headers, timeout=10)
        assert r.status_code == 401, (method, path, headers)
        if method != "HEAD":
            assert r.json() == {"error": "Missing or invalid bearer token."}
    r = requests.request(method, url, data=body if method == "POST" else None,
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code not in (401, 500), (method, path, r.text[:200])


def test_page_is_public_and_sends_the_token(server):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/", timeout=10) as r:
        page = r.read().decode()
    assert 'id="token"' in page and '"Authorization"' in page and "Bearer " in page
