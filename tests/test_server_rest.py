"""TF Serving's REST API against our server: the cases of http_rest_api_handler_test.cc,
bad input, metrics and the safety options."""

import base64
import json

import pytest
import requests

from serving_models import server  # noqa: F401 (module fixture)


@pytest.fixture(scope="module")
def url(server):
    return f"http://127.0.0.1:{server.rest_port}"


def post(url, path, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(url + path, data=data, timeout=10)


def test_predict_row_and_columnar_forms(url):
    r = post(url, "/v1/models/half:predict", {"instances": [1.0, 2.0]})
    assert r.status_code == 200 and r.json() == {"predictions": [3.5, 4.0]}
    assert r.headers["Content-Type"] == "application/json"
    r = post(url, "/v1/models/half/versions/1:predict", {"inputs": [1.0, 2.0]})
    assert r.json() == {"outputs": [2.5, 3.0]}
    r = post(url, "/v1/models/half/labels/stable:predict",
             {"signature_name": "serving_default", "instances": [3.0, 4.0]})
    assert r.json() == {"predictions": [3.5, 4.0]}
    r = post(url, "/v1/models/half:predict",
             {"signature_name": "column", "instances": [[1.0], [3.0]]})
    assert r.json() == {"predictions": [{"y": [3.5], "x_squared": [1.0]},
                                        {"y": [4.5], "x_squared": [9.0]}]}
    r = post(url, "/v1/models/half:predict", {"signature_name": "column",
                                              "inputs": {"x": [[2.0]]}})
    assert r.json() == {"outputs": {"y": [[4.0]], "x_squared": [[4.0]]}}


def test_strings_b64_and_named_instances(url):
    r = post(url, "/v1/models/words:predict",
             {"instances": [{"text": "a b"}, {"text": {"b64": base64.b64encode(b"x y z").decode()}}]})
    assert r.status_code == 200, r.text
    assert [p["count"] for p in r.json()["predictions"]] == [2, 3]
    r = post(url, "/v1/models/search:predict",
             {"signature_name": "search", "inputs": {"query": ["card"], "k": 1}})
    assert r.json()["outputs"]["doc_ids"] == [["d3"]]


def test_classify_and_regress(url):
    r = post(url, "/v1/models/tf1:regress", {"signature_name": "regress_x_to_y",
                                             "examples": [{"x": 1.0}, {"x": 3.0}]})
    assert r.json() == {"results": [2.5, 3.5]}
    r = post(url, "/v1/models/tf1:classify", {"signature_name": "classify_x_to_y",
                                              "context": {"x": 0.0}, "examples": [{}]})
    assert r.json() == {"results": [[["negative", 0.5], ["positive", 0.5]]]}


def test_status_and_metadata(url):
    r = requests.get(url + "/v1/models/half/versions/1", timeout=10)
    assert r.json() == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
        "error_code": "OK", "error_message": ""}}]}
    r = requests.get(url + "/v1/models/half/labels/canary", timeout=10)
    assert [row["version"] for row in r.json()["model_version_status"]] == ["2"]
    r = requests.get(url + "/v1/models/tf1/metadata", timeout=10)
    doc = r.json()
    assert doc["model_spec"] == {"name": "tf1", "signature_name": "", "version": "1"}
    sig = doc["metadata"]["signature_def"]["signature_def"]["regress_x_to_y"]
    assert sig["method_name"] == "tensorflow/serving/regress"


@pytest.mark.parametrize("method, path, body, status, text", [
    ("POST", "/v1/models/nope:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/half/versions/50:predict", {"instances": [1.0]}, 404,
     "Servable not found for request: Specific(half, 50)"),
    ("POST", "/v1/models/half/labels/nope:predict", {"instances": [1.0]}, 400,
     "Unrecognized servable version label: nope"),
    ("POST", "/v1/models/half:predict", {"signature_name": "nope", "instances": [1.0]}, 400,
     'Serving signature key "nope" not found.'),
    ("POST", "/v1/models/half:predict", "", 400, "JSON Parse error: The document is empty"),
    ("POST", "/v1/models/half:predict", "instances = [1, 2]", 400, "JSON Parse error"),
    ("POST", "/v1/models/half:predict", b'{"instances": ["\xff"]}', 400, "JSON Parse error"),
    ("POST", "/v1/models/half:predict", {"instances": ["x", "y"]}, 400,
     "is not of expected type: float"),
    ("POST", "/v1/models/half:predict", {"instances": []}, 400, "No values in 'instances' array"),
    ("POST", "/v1/models/half:predict", '{"instances": ' + "[" * 100000 + "]" * 100000 + "}",
     400, "JSON Parse error"),
    ("POST", "/v1/models/half:predict", {"instances": [[1.0], [2.0, 3.0]]}, 400,
     "Encountered list at unexpected size"),
    ("POST", "/v1/models/half:predict", {"signature_name": 100}, 400,
     "'signature_name' key must be a string value."),
    ("POST", "/v1/models/half:predict", {"nothing": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/half:predict", {"instances": ["x", "y"]}, 400,
     "not of expected type: float"),
    ("POST", "/v1/models/tf1:classify", {"examples": [{"x": 1.0}]}, 400,
     "No classification inputs found in SignatureDef"),
    ("POST", "/v1/models/tf1:regress", {"signature_name": "nope", "examples": [{"x": 1.0}]},
     400, "No signature was found with the name: nope"),
    ("POST", "/v1/models/words:predict", {"instances": [{"b64": "!!"}]}, 400,
     "Unable to base64 decode"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/foo:predict", None, 400, "Malformed request"),
    ("POST", "/v1/models/foo/versions/HELLO:regress", "", 400, "Malformed request"),
    ("POST", f"/v1/models/foo/versions/{2**64}:regress", "", 400, "Failed to convert version"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
])
def test_errors_have_tf_serving_codes(url, method, path, body, status, text):
    if method == "GET":
        r = requests.get(url + path, timeout=10)
    else:
        r = post(url, path, body)
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    ok = post(url, "/v1/models/half:predict", {"instances": [1.0]})  # still serving
    assert ok.json() == {"predictions": [3.5]}


def test_oversized_body_is_refused(url):
    body = json.dumps({"instances": [1.0] * 300_000})
    assert len(body) > 1 << 20
    r = requests.post(url + "/v1/models/half:predict", data=body, timeout=10)
    assert r.status_code == 413 and "exceeds the maximum" in r.json()["error"]
    assert post(url, "/v1/models/half:predict", {"instances": [1.0]}).status_code == 200


def test_bad_content_length_and_unknown_paths(server):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    connection.putrequest("POST", "/v1/models/half:predict")
    connection.putheader("Content-Length", "abc")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 400 and b"Content-Length" in response.read()
    connection.close()
    r = requests.get(f"http://127.0.0.1:{server.rest_port}/v1/foo", timeout=10)
    assert r.status_code == 400 and "Malformed request" in r.json()["error"]


def test_prometheus_metrics(url):
    post(url, "/v1/models/half/versions/1:predict", {"instances": [1.0]})
    text = requests.get(url + "/monitoring/prometheus/metrics", timeout=10).text
    assert (':tensorflow:serving:request_count_total{API="Predict",model_name="half",'
            'status="OK",version="1"}') in text
    assert ':tensorflow:serving:request_latency_bucket{API="Predict",entrypoint="REST"' in text
    assert 'status="NOT_FOUND"' in text


def test_bearer_token_and_deadline(tmp_path):
    import grpc
    import numpy as np
    from conftest import free_port
    from fake_servables import FakeChat
    from lepton_tf.client import ChatClient
    from lepton_tf.server.app import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(), auth_token="s3cret"),
                      python_servables={"chat": FakeChat()}).start()
    try:
        base = f"http://127.0.0.1:{srv.rest_port}/v1/models/chat:predict"
        body = json.dumps({"instances": ["hi"]})
        assert requests.post(base, data=body, timeout=10).status_code == 401
        r = requests.post(base, data=body, headers={"Authorization": "Bearer s3cret"}, timeout=10)
        assert r.json() == {"predictions": ["you said: hi (turn 1)"]}
        target = f"127.0.0.1:{srv.grpc_port}"
        with pytest.raises(grpc.RpcError) as info:
            ChatClient(target, retries=0).reply(["hi"])
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert ChatClient(target, token="s3cret").reply(["hi"]) == ["you said: hi (turn 1)"]
        with pytest.raises(grpc.RpcError) as info:
            ChatClient(target, token="s3cret", timeout_s=0.1).reply(["slow"])
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert np.asarray(ChatClient(target, token="s3cret").reply(["ok"])).size == 1
    finally:
        srv.stop()
