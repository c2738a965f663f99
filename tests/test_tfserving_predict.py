"""TF Serving's Predict unit tests, run over gRPC against `lepton-tf serve`.

Ported from tensorflow/serving `tensorflow_serving/servables/tensorflow/predict_impl_test.cc`
and `multi_inference_test.cc` (test names kept, TF Serving's expected responses unchanged)
on its test models: the half_plus_two SavedModel (`saved_model_half_plus_two_2_versions`, version 123, the
`cc/saved_model/testdata/half_plus_two` model those tests load) and the stateful
`saved_model_counter`. `MethodNameCheck` runs the server with
`--enable_signature_method_name_check`, as TF Serving's flag sets the feature the test flips.
"""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (classification_pb2, inference_pb2, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from tfserving_server import RPC_TIMEOUT, data_path, run_server, stop_servers

MODEL, VERSION = "test_model", 123
CONFIG = """
model_config_list {{
  config {{
    name: "test_model"
    base_path: "{half_plus_two}"
    model_platform: "tensorflow"
    model_version_policy {{ all {{}} }}
    version_labels {{ key: "Version_Label" value: 123 }}
  }}
  config {{ name: "counter" base_path: "{counter}" model_platform: "tensorflow" }}
}}
"""


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "models.config"
    path.write_text(CONFIG.format(half_plus_two=data_path("saved_model_half_plus_two_2_versions"),
                                  counter=data_path("saved_model_counter")))
    address = run_server(None, None, model_config_file=str(path))[1]
    channel = grpc.insecure_channel(address)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()
    stop_servers()


def request_for(signature="", version=VERSION, model=MODEL):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    request.model_spec.signature_name = signature
    return request


def float_tensor(value, shape=None):
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value])
    for size in shape or ():
        proto.tensor_shape.dim.add().size = size
    return proto


def expected_response(request, outputs, signature):
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    response.model_spec.signature_name = signature
    for alias, value in outputs.items():
        out = response.outputs[alias]
        out.dtype = types_pb2.DT_FLOAT
        out.float_val.append(value)
        out.tensor_shape.SetInParent()
    return response


def error_of(call, request):
    with pytest.raises(grpc.RpcError) as info:
        call(request, RPC_TIMEOUT)
    return info.value.code(), info.value.details()


def test_EmptyInputList(stub):
    code, _ = error_of(stub.Predict, request_for())
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_InputTensorsDontMatchModelSpecInputs(stub):
    request = request_for()
    request.inputs["unknown_key1"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING, string_val=[b"any_value"]))
    request.inputs["unknown_key1"].tensor_shape.dim.add().size = 1
    request.inputs["unknown_key2"].CopyFrom(float_tensor(1.0, [1]))
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Sent extra: {unknown_key1,unknown_key2}" in details
    assert "Missing but required: {x}" in details


def test_PredictionInvalidTensor(stub):
    request = request_for()
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_BOOL,
                                                        bool_val=[True]))
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Expects arg[0] to be float but bool is provided" in details


def test_OutputFiltersDontMatchModelSpecOutputs(stub):
    request = request_for()
    request.inputs["x"].CopyFrom(float_tensor(2.0))
    request.output_filter.append("output_filter")
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "output tensor alias not found in signature: output_filter" in details
    request.output_filter[:] = ["y"]
    stub.Predict(request, RPC_TIMEOUT)
    request.output_filter.append("y")
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "duplicate output tensor alias: y" in details


def test_InputTensorsHaveWrongType(stub):
    request = request_for()
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING,
                                                        string_val=[b"any_value"]))
    request.inputs["x"].tensor_shape.dim.add().size = 1
    request.output_filter.append("y")
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "to be float but string is provided" in details


def test_PredictionSuccess(stub):
    request = request_for()
    request.inputs["x"].CopyFrom(float_tensor(2.0))  # a scalar: no shape at all
    response = stub.Predict(request, RPC_TIMEOUT)
    assert response == expected_response(request, {"y": 3.0}, "serving_default")


def test_PredictionSuccess_tensor_content(stub):
    """PredictionSuccess with the input packed in `tensor_content` (tf.make_tensor_proto)."""
    request = request_for()
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([2.0, 4.0], np.float32)))
    assert request.inputs["x"].tensor_content
    response = stub.Predict(request, RPC_TIMEOUT)
    assert list(response.outputs["y"].float_val) == [3.0, 4.0]


def test_PredictionWithNamedRegressionSignature(stub):
    request = request_for("regress_x2_to_y3")
    request.inputs["inputs"].CopyFrom(float_tensor(2.0))
    response = stub.Predict(request, RPC_TIMEOUT)
    assert response == expected_response(request, {"outputs": 4.0}, "regress_x2_to_y3")


def test_PredictionWithNamedClassificationSignature(stub):
    request = request_for("classify_x2_to_y3")
    request.inputs["inputs"].CopyFrom(float_tensor(2.0))
    response = stub.Predict(request, RPC_TIMEOUT)
    assert response == expected_response(request, {"scores": 4.0}, "classify_x2_to_y3")


def test_PredictionWithCustomizedSignatures(stub):
    """get_counter, incr_counter, reset_counter, incr_counter, incr_counter_by(3): 0 1 0 1 4."""
    request = request_for(model="counter", version=None)
    steps = [("get_counter", None, 0.0), ("incr_counter", None, 1.0),
             ("reset_counter", None, 0.0), ("incr_counter", ["output"], 1.0),
             ("incr_counter_by", None, 4.0)]
    for signature, output_filter, value in steps:
        request.model_spec.signature_name = signature
        request.output_filter[:] = output_filter or []
        if signature == "incr_counter_by":
            request.inputs["delta"].CopyFrom(float_tensor(3.0))
        response = stub.Predict(request, RPC_TIMEOUT)
        want = expected_response(request, {"output": value}, signature)
        want.model_spec.version.value = 123
        assert response == want, signature


def test_version_label(stub):
    """A request by version label (TF Serving's `version_label` in ModelSpec)."""
    request = request_for(version=None)
    request.model_spec.version_label = "Version_Label"
    request.inputs["x"].CopyFrom(float_tensor(2.0, [1]))
    response = stub.Predict(request, RPC_TIMEOUT)
    assert response.model_spec.version.value == 123
    assert list(response.outputs["y"].float_val) == [3.0]


def test_checks_in_tf_servings_order(stub):
    """`PreProcessPrediction`'s order: the output filter is checked before anything runs,
    so an unknown alias is the error even when the input would also fail (and a stateful
    signature is not run: the counter does not move)."""
    request = request_for()
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(dtype=types_pb2.DT_BOOL,
                                                        bool_val=[True]))
    request.output_filter.append("nope")
    code, details = error_of(stub.Predict, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("output tensor alias not found in signature: nope")
    counter = request_for("get_counter", model="counter", version=None)
    before = stub.Predict(counter, RPC_TIMEOUT).outputs["output"].float_val[0]
    incr = request_for("incr_counter", model="counter", version=None)
    incr.output_filter.append("nope")
    assert error_of(stub.Predict, incr)[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.Predict(counter, RPC_TIMEOUT).outputs["output"].float_val[0] == before


# servables/tensorflow/multi_inference_test.cc (TensorFlowMultiInferenceRunner), over gRPC
# on the same model; results are compared without the model_spec the server adds to each.

def multi_request(tasks, features=(("x", 2.0),)):
    request = inference_pb2.MultiInferenceRequest()
    if features is not None:
        example = request.input.example_list.examples.add()
        for key, value in features:
            example.features.feature[key].float_list.value.append(value)
    for signature, method, *model in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model[0] if model else MODEL
        task.model_spec.version.value = VERSION
        task.model_spec.signature_name = signature
    return request


REGRESS, CLASSIFY = "tensorflow/serving/regress", "tensorflow/serving/classify"


@pytest.mark.parametrize("name, request_args, code, text", [
    ("MissingInputTest", ([("regress_x_to_y", REGRESS)], None),
     grpc.StatusCode.INVALID_ARGUMENT, "Input is empty"),
    ("UndefinedSignatureTest", ([("ThisSignatureDoesNotExist", REGRESS)],),
     grpc.StatusCode.INVALID_ARGUMENT, "signature not found"),
    ("InconsistentModelSpecsInRequestTest",
     ([("regress_x_to_y", REGRESS), ("regress_x_to_y", REGRESS, "ModelDoesNotExist")],),
     grpc.StatusCode.INVALID_ARGUMENT, "must access the same model name"),
    ("EvaluateDuplicateSignaturesTest",
     ([("regress_x_to_y", REGRESS), ("regress_x_to_y", REGRESS)],),
     grpc.StatusCode.INVALID_ARGUMENT, "Duplicate evaluation of signature: regress_x_to_y"),
    ("UsupportedSignatureTypeTest",
     ([("serving_default", "tensorflow/serving/predict")],),
     grpc.StatusCode.UNIMPLEMENTED, "Unsupported signature"),
    ("SignaturesWithDifferentInputsTest",
     ([("regress_x_to_y", REGRESS), ("regress_x2_to_y3", REGRESS)],
      (("x", 2.0), ("x2", 2.0))),
     grpc.StatusCode.INVALID_ARGUMENT, "Input tensor must be the same"),
])
def test_MultiInferenceTest_errors(stub, name, request_args, code, text):
    got_code, details = error_of(stub.MultiInference, multi_request(*request_args))
    assert got_code == code, name
    assert text in details, name


@pytest.mark.parametrize("name, tasks, results", [
    ("ValidSingleSignatureTest", [("regress_x_to_y", REGRESS)], [("regress", 3.0)]),
    ("MultipleValidRegressSignaturesTest",
     [("regress_x_to_y", REGRESS), ("regress_x_to_y2", REGRESS)],
     [("regress", 3.0), ("regress", 4.0)]),
    ("RegressAndClassifySignaturesTest",
     [("regress_x_to_y", REGRESS), ("classify_x_to_y", CLASSIFY)],
     [("regress", 3.0), ("classify", 3.0)]),
])
def test_MultiInferenceTest(stub, name, tasks, results):
    response = stub.MultiInference(multi_request(tasks), RPC_TIMEOUT)
    expected = inference_pb2.MultiInferenceResponse()
    for kind, value in results:
        item = expected.results.add()
        if kind == "regress":
            item.regression_result.regressions.add().value = value
        else:
            item.classification_result.classifications.add().classes.add().score = value
    for item in response.results:
        item.ClearField("model_spec")
    assert response == expected, name


# Last: it starts a server with other flags, which stops the module's one.
def test_MethodNameCheck():
    """The feature on (--enable_signature_method_name_check): a legit method name runs,
    another is refused; off (the default, every other test here) both run."""
    address = run_server("default", data_path("saved_model_half_plus_two_tf2_cpu"),
                         extra_flags=["--enable_signature_method_name_check"])[1]
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
    request = request_for(model="default", version=None)
    request.inputs["x"].CopyFrom(float_tensor(2.0, [1]))
    assert list(stub.Predict(request, RPC_TIMEOUT).outputs["y"].float_val) == [3.0]
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "default", "classify_x_to_y"
    classify.input.example_list.examples.add().features.feature["x"].float_list.value.append(2.0)
    assert error_of(stub.Classify, classify) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expected classification signature method_name to "
        "be tensorflow/serving/classify. Was: tensorflow/serving/predict")
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "default", "regress_x_to_y"
    regress.input.CopyFrom(classify.input)
    assert error_of(stub.Regress, regress) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expected regression signature method_name to "
        "be tensorflow/serving/regress. Was: tensorflow/serving/predict")
