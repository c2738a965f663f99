"""The TF Serving gRPC API against our server: the cases of TF Serving's own
end-to-end tests (tensorflow_model_server_test.py) on models built here."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2, model_management_pb2,
                                     model_service_pb2_grpc,
                                     prediction_service_pb2_grpc, regression_pb2)
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving_models import example, predict_request, server  # noqa: F401 (module fixture)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    return info.value.code(), info.value.details()


X = np.array([1.0, 2.0, 5.0], np.float32)


def test_predict_latest_specific_and_labelled_versions(stubs):
    predict, _ = stubs
    latest = predict.Predict(predict_request("half", {"x": X}), timeout=10)
    assert latest.model_spec.version.value == 2
    assert latest.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(latest.outputs["y"]), 0.5 * X + 3)
    # Outputs as typed fields, like TF Serving's default.
    assert list(latest.outputs["y"].float_val) == [3.5, 4.0, 5.5]
    v1 = predict.Predict(predict_request("half", {"x": X}, version=1), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(v1.outputs["y"]), 0.5 * X + 2)
    stable = predict.Predict(predict_request("half", {"x": X}, label="stable"), timeout=10)
    assert stable.model_spec.version.value == 1


def test_predict_typed_fields_input_output_filter_and_tf1(stubs):
    predict, _ = stubs
    typed = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum)
    typed.tensor_shape.dim.add(size=2, name="")
    typed.float_val.extend([1.0, 3.0])
    out = predict.Predict(predict_request("half", {"x": typed}, version=1), timeout=10)
    assert list(out.outputs["y"].float_val) == [2.5, 3.5]
    col = predict.Predict(predict_request("half", {"x": X[:, None]}, signature="column",
                                          output_filter=["x_squared"]), timeout=10)
    assert list(col.outputs) == ["x_squared"]
    np.testing.assert_allclose(tf.make_ndarray(col.outputs["x_squared"])[:, 0], X * X)
    tf1 = predict.Predict(predict_request("tf1", {"x": X}), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(tf1.outputs["y"]), 0.5 * X + 2)
    # No shape check of the server's own: [3, 1] into x [?] runs, as in TF Serving.
    wide = predict.Predict(predict_request("half", {"x": X[:, None]}), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(wide.outputs["y"])[:, 0], 0.5 * X + 3)


def test_predict_strings_and_empty_batch(stubs):
    predict, _ = stubs
    out = predict.Predict(predict_request("words", {"text": np.array([b"a b c", b"d"])}),
                          timeout=10)
    assert list(tf.make_ndarray(out.outputs["count"])) == [3, 1]
    empty = predict.Predict(predict_request("half", {"x": np.zeros([0], np.float32)}),
                            timeout=10)
    assert tf.make_ndarray(empty.outputs["y"]).shape == (0,)


@pytest.mark.parametrize("request_kwargs, code, text", [
    (dict(name="nope", inputs={"x": X}), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    (dict(name="half", inputs={"x": X}, version=7), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Specific(half, 7)"),
    (dict(name="half", inputs={"x": X}, label="nope"), grpc.StatusCode.INVALID_ARGUMENT,
     "Unrecognized servable version label: nope"),
    (dict(name="half", inputs={"x": X}, signature="nope"), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    (dict(name="half", inputs={"z": X}), grpc.StatusCode.INVALID_ARGUMENT,
     "input tensor alias not found in signature: z. Inputs expected to be in the set {x}."),
    (dict(name="half", inputs={"x": X, "z": X}), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 2!=1"),
    # A dtype the graph refuses: TensorFlow's own INVALID_ARGUMENT (the server checks none).
    (dict(name="half", inputs={"x": np.array([b"a"])}), grpc.StatusCode.INVALID_ARGUMENT,
     "was expected to be a float tensor but is a string tensor"),
    (dict(name="tf1", inputs={"x": np.array([True])}), grpc.StatusCode.INVALID_ARGUMENT,
     "Expects arg[0] to be float but bool is provided"),
    (dict(name="half", inputs={"x": X}, output_filter=["w"]), grpc.StatusCode.INVALID_ARGUMENT,
     "output tensor alias not found in signature: w"),
    (dict(name="search", inputs={"query": np.array([b"card"]), "k": np.int32(50)},
          signature="search"), grpc.StatusCode.INVALID_ARGUMENT, "k must be in [1, 3], got 50."),
    (dict(name="chat", inputs={"context": np.array([b"crash"])}), grpc.StatusCode.INTERNAL,
     "RuntimeError: servable bug"),
])
def test_predict_errors_have_tf_serving_codes(stubs, request_kwargs, code, text):
    predict, _ = stubs
    got_code, details = rpc_error(predict.Predict, predict_request(**request_kwargs))
    assert got_code == code
    assert text in details
    ok = predict.Predict(predict_request("half", {"x": X}), timeout=10)  # still serving
    assert ok.model_spec.version.value == 2


def test_tensor_that_would_expand_beyond_memory_is_refused(stubs):
    predict, _ = stubs
    huge = tensor_pb2.TensorProto(dtype=tf.float32.as_datatype_enum, float_val=[1.0])
    huge.tensor_shape.dim.add(size=10**12)
    code, details = rpc_error(predict.Predict, predict_request("half", {"x": huge}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "tensor parsing error: x" in details


def test_non_utf8_strings_and_oversized_request(stubs):
    predict, _ = stubs
    out = predict.Predict(predict_request("words", {"text": np.array([b"\xff\xfe ok"])}),
                          timeout=10)
    assert tf.make_ndarray(out.outputs["count"]).shape == (1,)
    code, details = rpc_error(predict.Predict, predict_request(
        "half", {"x": np.zeros([400_000], np.float32)}))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert predict.Predict(predict_request("half", {"x": X}), timeout=10).outputs["y"]


def classification_request(signature="classify_x_to_y", name="tf1", xs=(1.0, -1.0)):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    request.input.example_list.examples.extend([example(x) for x in xs])
    return request


def test_classify_regress_and_multi_inference(stubs):
    predict, _ = stubs
    result = predict.Classify(classification_request(), timeout=10).result
    first = result.classifications[0].classes
    assert [c.label for c in first] == ["negative", "positive"]
    assert first[1].score == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-5)
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "tf1", "regress_x_to_y"
    regress.input.example_list_with_context.context.CopyFrom(example(4.0))
    regress.input.example_list_with_context.examples.add()
    response = predict.Regress(regress, timeout=10)
    assert response.result.regressions[0].value == pytest.approx(4.0)
    assert response.model_spec.version.value == 1
    multi = inference_pb2.MultiInferenceRequest()
    for signature, method in [("classify_x_to_y", "tensorflow/serving/classify"),
                              ("regress_x_to_y", "tensorflow/serving/regress")]:
        task = multi.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "tf1", signature
    multi.input.example_list.examples.extend([example(2.0)])
    results = predict.MultiInference(multi, timeout=10).results
    assert results[1].regression_result.regressions[0].value == pytest.approx(3.0)
    assert len(results[0].classification_result.classifications) == 1


def test_classify_errors(stubs):
    predict, _ = stubs
    # Without --enable_signature_method_name_check (TF Serving's default) the method
    # name is not checked; the predict signature lacks the classify input instead.
    code, details = rpc_error(predict.Classify, classification_request("serving_default"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("No classification inputs found in SignatureDef: ")
    code, details = rpc_error(predict.Classify, classification_request("nope"))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT,
                               "No signature was found with the name: nope")
    code, details = rpc_error(predict.Classify, classification_request(xs=()))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")


def test_get_model_metadata(stubs):
    predict, _ = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tf1"
    response = predict.GetModelMetadata(request, timeout=10)
    defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(defs)
    assert set(defs.signature_def) == {"serving_default", "classify_x_to_y", "regress_x_to_y"}
    assert defs.signature_def["classify_x_to_y"].method_name == "tensorflow/serving/classify"
    request.model_spec.name = "search"  # a Python servable describes itself too
    predict.GetModelMetadata(request, timeout=10).metadata["signature_def"].Unpack(defs)
    assert defs.signature_def["search"].inputs["k"].dtype == tf.int32.as_datatype_enum
    request.metadata_field[:] = ["nope"]
    assert rpc_error(predict.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Metadata field nope is not supported")


def test_get_model_status(stubs):
    _, models = stubs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half"
    states = {s.version: s.state for s in models.GetModelStatus(request, timeout=10)
              .model_version_status}
    assert states == {1: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
                      2: get_model_status_pb2.ModelVersionStatus.AVAILABLE}
    request.model_spec.name = "nope"
    assert rpc_error(models.GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope")
    request.model_spec.name = "half"
    request.model_spec.version.value = 9
    assert rpc_error(models.GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, "Could not find version 9 of model half")


def test_python_servables_and_in_process_encoder(stubs):
    predict, _ = stubs
    out = predict.Predict(predict_request(
        "search", {"query": np.array([b"lost my card", b"password?"]), "k": np.int32(2)},
        signature="search"), timeout=10)
    ids = tf.make_ndarray(out.outputs["doc_ids"])
    assert ids.shape == (2, 2) and ids[0, 0] == b"d3" and ids[1, 0] == b"d1"


def test_reload_config_changes_labels(server, stubs):
    predict, models = stubs
    config = model_server_config_pb2.ModelServerConfig()
    config.CopyFrom(server.manager.config)
    half = config.model_config_list.config[0]
    half.version_labels["stable"] = 2
    response = models.HandleReloadConfigRequest(
        model_management_pb2.ReloadConfigRequest(config=config), timeout=30)
    assert response.status.error_code == 0
    out = predict.Predict(predict_request("half", {"x": X}, label="stable"), timeout=10)
    assert out.model_spec.version.value == 2
    half.version_labels["stable"] = 5  # not available: refused, old labels stay
    with pytest.raises(grpc.RpcError) as info:
        models.HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=30)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    out = predict.Predict(predict_request("half", {"x": X}, label="stable"), timeout=10)
    assert out.model_spec.version.value == 2
