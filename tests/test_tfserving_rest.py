"""TF Serving's REST tests and documented examples, run against `lepton-tf serve`.

Ported from tensorflow/serving: `model_servers/http_rest_api_handler_test.cc` (each test
named after its TEST_F; TF Serving calls the handler in process and checks the status, here
the same request goes over HTTP and the status arrives as TF Serving's HTTP code and
`{"error": ...}` body), every request/response example of `g3doc/api_rest.md`, and the
quickstart of `g3doc/docker.md`, on TF Serving's own test models.
"""

import json

import pytest
import requests

from tfserving_server import data_path, run_server, stop_servers

MODEL = "saved_model_half_plus_two_2_versions"
HANDLER_CONFIG = """
model_config_list {{
  config {{
    name: "saved_model_half_plus_two_2_versions"
    base_path: "{path}"
    model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 123 }} }}
    version_labels {{ key: "Version_Label" value: 123 }}
  }}
}}
"""
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """HttpRestApiHandlerTest's server core: the 2-versions model, version 123, one label."""
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(HANDLER_CONFIG.format(path=data_path(MODEL)))
    yield "http://" + run_server(None, None, model_config_file=str(path))[2]
    stop_servers()


def process(url, method, path, body=""):
    """`ProcessRequest` over HTTP: `(HTTP status, JSON document, headers)`."""
    r = requests.request(method, url + path, data=body, timeout=20)
    return r.status_code, r.json(), r.headers


@pytest.mark.parametrize("method, path, text", [
    ("GET", "/v1/foo", "Malformed request"),
    ("POST", "/v1/foo", "Malformed request"),
    ("GET", "/v1/models", "Missing model name"),
    ("GET", "/v1/models/debug/model_name", "Malformed request"),
    ("POST", "/v1/models", "Malformed request"),
    ("GET", "/v1/models/foo:predict", "Malformed request"),
    ("GET", "/v1/models/foo/version/50:predict", "Malformed request"),
    ("POST", "/v1/models/foo/version/50:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/HELLO:regress", "Malformed request"),
    ("POST", f"/v1/models/foo/versions/{2**64 - 1}:regress", "Failed to convert version"),
    ("POST", "/v1/models/foo/metadata", "Malformed request"),
    ("POST", "/v1/models/foo/label/some_label:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress", "Malformed request"),
    ("POST", "/v1/models/foo/versions/some_label:regress", "Malformed request"),
])
def test_UnsupportedApiCalls(handler, method, path, text):
    status, doc, _ = process(handler, method, path)
    assert status == 400  # INVALID_ARGUMENT
    assert text in doc["error"]


@pytest.mark.parametrize("path", [
    "/v1/models/foo:predict", "/v1/models/foo/versions/50:predict",
    f"/v1/models/{MODEL}99:predict"])
def test_PredictModelNameVersionErrors(handler, path):
    status, _, _ = process(handler, "POST", path, '{ "instances": [1] }')
    assert status == 404  # NOT_FOUND


@pytest.mark.parametrize("path, body, text", [
    (f"/v1/models/{MODEL}:predict", "", "JSON Parse error: The document is empty"),
    (f"/v1/models/{MODEL}:predict", "instances = [1, 2]", "JSON Parse error: Invalid value"),
    (f"/v1/models/{MODEL}:predict", '{ "instances": ["x", "y"] }',
     "not of expected type: float"),
    (f"/v1/models/{MODEL}/labels/Version_Nonexistent:predict", '{ "instances": ["x", "y"] }',
     "Unrecognized servable version label"),
    (f"/v1/models/{MODEL}:predict", '{ "signature_name": 100 }',
     "'signature_name' key must be a string value."),
])
def test_PredictRequestErrors(handler, path, body, text):
    status, doc, _ = process(handler, "POST", path, body)
    assert status == 400  # INVALID_ARGUMENT
    assert text in doc["error"]


@pytest.mark.parametrize("path, body, expected", [
    (f"/v1/models/{MODEL}:predict", '{"instances": [[1.0, 2.0], [3.0, 4.0]]}',
     {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    (f"/v1/models/{MODEL}/versions/123:predict", '{"instances": [1.0, 2.0]}',
     {"predictions": [2.5, 3.0]}),
    (f"/v1/models/{MODEL}/labels/Version_Label:predict", '{"instances": [1.0, 2.0]}',
     {"predictions": [2.5, 3.0]}),
    (f"/v1/models/{MODEL}/versions/123:predict",
     '{"signature_name": "serving_default", "instances": [3.0, 4.0]}',
     {"predictions": [3.5, 4.0]}),
    (f"/v1/models/{MODEL}/versions/123:predict",
     '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}', {"outputs": [3.5, 4.0]}),
])
def test_Predict(handler, path, body, expected):
    status, doc, headers = process(handler, "POST", path, body)
    assert (status, doc) == (200, expected)
    assert headers["Content-Type"] == JSON["Content-Type"]


@pytest.mark.parametrize("path", [
    f"/v1/models/{MODEL}:regress", f"/v1/models/{MODEL}/versions/123:regress",
    f"/v1/models/{MODEL}/labels/Version_Label:regress"])
def test_Regress(handler, path):
    status, doc, headers = process(
        handler, "POST", path,
        '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }')
    assert (status, doc) == (200, {"results": [42]})
    assert headers["Content-Type"] == JSON["Content-Type"]


@pytest.mark.parametrize("path, x, expected", [
    (f"/v1/models/{MODEL}:classify", 20.0, {"results": [[["", 12]]]}),
    (f"/v1/models/{MODEL}/labels/Version_Label:classify", 10.0, {"results": [[["", 7]]]}),
])
def test_Classify(handler, path, x, expected):
    status, doc, headers = process(
        handler, "POST", path,
        json.dumps({"signature_name": "classify_x_to_y", "examples": [{"x": x}]}))
    assert (status, doc) == (200, expected)
    assert headers["Content-Type"] == JSON["Content-Type"]


@pytest.mark.parametrize("path", [
    f"/v1/models/{MODEL}", f"/v1/models/{MODEL}/versions/123",
    f"/v1/models/{MODEL}/labels/Version_Label"])
def test_GetStatus(handler, path):
    status, doc, headers = process(handler, "GET", path)
    assert status == 200 and headers["Content-Type"] == JSON["Content-Type"]
    assert doc == {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}


def test_GetModelMetadata(handler):
    status, doc, headers = process(handler, "GET", f"/v1/models/{MODEL}/metadata")
    assert status == 200 and headers["Content-Type"] == JSON["Content-Type"]
    with open(data_path("saved_model_half_plus_two_2_versions_metadata.json"),
              encoding="utf-8") as f:
        assert doc == json.load(f)  # CompareJson: the whole document, exactly


# g3doc/api_rest.md, "Example": the half_plus_three model, as the Docker command there
# serves it (MODEL_BASE_PATH=testdata, MODEL_NAME=saved_model_half_plus_three).

def test_api_rest_example():
    url = "http://" + run_server("saved_model_half_plus_three",
                                 data_path("saved_model_half_plus_three"))[2]
    r = requests.get(url + "/v1/models/saved_model_half_plus_three", timeout=20)
    assert r.json() == {"model_version_status": [{
        "version": "123", "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}]}
    r = requests.post(url + "/v1/models/saved_model_half_plus_three:predict",
                      data='{"instances": [1.0,2.0,5.0]}', timeout=20)
    assert r.json() == {"predictions": [3.5, 4.0, 5.5]}
    r = requests.post(url + "/v1/models/saved_model_half_plus_three:regress", timeout=20,
                      data='{"signature_name": "tensorflow/serving/regress", '
                           '"examples": [{"x": 1.0}, {"x": 2.0}]}')
    assert r.json() == {"results": [3.5, 4.0]}
    r = requests.post(url + "/v1/models/half:predict", data='{"instances": [1.0,5.0]}',
                      timeout=20)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"error": "Servable not found for request: Latest(half)"}


def test_docker_quickstart():
    """g3doc/docker.md: saved_model_half_plus_two_cpu served as half_plus_two."""
    url = "http://" + run_server("half_plus_two", data_path("saved_model_half_plus_two_cpu"))[2]
    r = requests.post(url + "/v1/models/half_plus_two:predict",
                      data='{"instances": [1.0, 2.0, 5.0]}', timeout=20)
    assert r.json() == {"predictions": [2.5, 3.0, 4.5]}
