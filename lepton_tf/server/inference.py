"""The four inference APIs on one servable: Predict, Classify, Regress, MultiInference.

Both fronts (gRPC, REST) and the warmup replay call these, so a request
gets the same checks, errors and results whichever way it arrives. The
checks, their order and their texts are TF Serving's (`predict_util.cc`,
`classifier.cc`, `regressor.cc`): the signature, the method name only with
`--enable_signature_method_name_check`, the input and output aliases, and
then the run, where TensorFlow itself refuses a tensor that does not fit.
"""

from __future__ import annotations

import time

import grpc
import numpy as np
from tensorflow_serving.apis import (classification_pb2, inference_pb2, predict_pb2,
                                     regression_pb2)

from lepton_tf.server import deadline, limits, metrics, tensors
from lepton_tf.server.errors import ServingError, failed_precondition, internal, invalid_argument
from lepton_tf.server.servable import (CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD,
                                       Servable, Signature)

DEFAULT_SIGNATURE = "serving_default"


def resolve_signature(servable: Servable, name: str) -> tuple[str, Signature]:
    """`name` (default `serving_default`) and its `Signature`, as Predict looks it up.

    Raises:
        ServingError: FAILED_PRECONDITION if the servable has no such signature.
    """
    name = name or DEFAULT_SIGNATURE
    signature = servable.signatures.get(name)
    if signature is None:
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    return name, signature


def check_predict_method(signature: Signature) -> None:
    """`--enable_signature_method_name_check`: Predict runs predict, classify and
    regress signatures only (INTERNAL, as TF Serving's `VerifySignature`)."""
    if signature.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise internal(f"Expected prediction signature method_name to be one of "
                       f"{{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
                       f"Was: {signature.method_name}")


def run_signature(servable: Servable, name: str, inputs: dict, outputs: list[str]) -> dict:
    """`servable.run` with its failures turned into status codes.

    A servable's ValueError is the client's input (INVALID_ARGUMENT); a
    `ServingError` (TensorFlow's own, with its code) passes as it is; anything
    else is a server bug reported as INTERNAL, never a crashed server. The
    model's request limits (`limits.run_bounded`) apply here, for every API.
    """
    deadline.check()  # do not start work nobody waits for

    def run(part):
        if getattr(servable, "accepts_output_names", False):
            return servable.run(name, part, output_names=outputs)
        return servable.run(name, part)
    at, started = deadline.current(), time.monotonic()
    try:
        result = limits.run_bounded(servable, inputs, run, name)
    except ServingError:
        raise
    except ValueError as e:
        raise invalid_argument(str(e)) from None
    except Exception as e:  # noqa: BLE001 - see docstring
        raise internal(f"{type(e).__name__}: {e}") from None
    finally:
        ended = time.monotonic()
        if at is not None and ended > at:  # it computed past its deadline: how long?
            metrics.observe_past_deadline(servable.name, ended - max(at, started))
    missing = [k for k in outputs if k not in result]
    if missing:
        raise internal(f"Servable {servable.name} did not return outputs {missing}.")
    return {k: np.asarray(result[k]) for k in outputs}


def _run_predict(servable: Servable, name: str, signature: Signature,
                 inputs: dict[str, np.ndarray], outputs: list[str]) -> dict:
    if not getattr(servable, "checks_own_inputs", False):
        tensors.check_dtypes_and_shapes(signature, inputs)
    return run_signature(servable, name, inputs, outputs)


def predict_arrays(servable: Servable, signature_name: str, inputs: dict[str, np.ndarray],
                   output_filter=(), method_check: bool = False
                   ) -> tuple[str, dict[str, np.ndarray]]:
    """Predict on numpy inputs: check, run, return `(signature name, outputs)`."""
    name, signature = resolve_signature(servable, signature_name)
    if method_check:
        check_predict_method(signature)
    tensors.check_input_aliases(signature, inputs)
    outputs = tensors.check_output_filter(signature, output_filter)
    return name, _run_predict(servable, name, signature, inputs, outputs)


def _fill_spec(spec, servable: Servable, signature_name: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_name


def predict(servable: Servable, request: predict_pb2.PredictRequest,
            method_check: bool = False) -> predict_pb2.PredictResponse:
    """A `PredictRequest` on one servable version, checked in TF Serving's order:
    signature, method name (if asked), input aliases, each input's parsing,
    the output filter; nothing runs before all of them pass."""
    name, signature = resolve_signature(servable, request.model_spec.signature_name)
    if method_check:
        check_predict_method(signature)
    tensors.check_input_aliases(signature, request.inputs)
    limits.check_protos(servable, request.inputs)  # before anything is decoded
    inputs = {alias: tensors.to_numpy(proto, alias) for alias, proto in request.inputs.items()}
    outputs = tensors.check_output_filter(signature, request.output_filter)
    result = _run_predict(servable, name, signature, inputs, outputs)
    response = predict_pb2.PredictResponse()
    _fill_spec(response.model_spec, servable, name)
    for alias, array in result.items():
        tensors.fill_proto(response.outputs[alias], array)
    return response


def serialized_examples(input_proto) -> np.ndarray:
    """`tensorflow.serving.Input` -> serialized tf.Examples, context merged in.

    Raises:
        ServingError: INVALID_ARGUMENT "Input is empty." without examples.
    """
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
    elif kind == "example_list_with_context":
        context = input_proto.example_list_with_context.context
        examples = []
        for example in input_proto.example_list_with_context.examples:
            merged = type(example)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise invalid_argument("Input is empty.")
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _signature_text(servable: Servable, name: str) -> str:
    defs = getattr(servable, "signature_defs", None)
    return str(defs[name]) if defs is not None and name in defs else repr(
        servable.signatures[name])


def _example_signature(servable: Servable, name: str, method: str, kind: str,
                       method_check: bool) -> tuple[str, Signature]:
    """Classify/Regress's signature lookup (`GetClassificationSignatureDef`)."""
    name = name or DEFAULT_SIGNATURE
    signature = servable.signatures.get(name)
    if signature is None:
        raise invalid_argument(f"No signature was found with the name: {name}")
    if method_check and signature.method_name != method:
        raise invalid_argument(f"Expected {kind} signature method_name to be {method}. "
                               f"Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    return name, signature


def _dtype_enum_name(array: np.ndarray) -> str:
    return "DT_" + tensors.tf_type_name(tensors.dtype_name(array)).upper()


def _classify_signature(servable: Servable, signature_name: str,
                        method_check: bool) -> tuple[str, list[str]]:
    """`PreProcessClassification`: `(signature name, outputs to fetch)`."""
    name, signature = _example_signature(servable, signature_name, CLASSIFY_METHOD,
                                         "classification", method_check)
    if len(signature.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found "
                               f"{len(signature.outputs)}")
    if "inputs" not in signature.inputs:
        raise invalid_argument("No classification inputs found in SignatureDef: "
                               + _signature_text(servable, name))
    wanted = [k for k in ("classes", "scores") if k in signature.outputs]
    if not wanted:
        raise invalid_argument('Expected classification signature outputs to contain at '
                               'least one of "classes" or "scores". Signature was: '
                               + _signature_text(servable, name))
    return name, wanted


def _regress_signature(servable: Servable, signature_name: str, method_check: bool) -> str:
    """`PreProcessRegression`: the signature name."""
    name, signature = _example_signature(servable, signature_name, REGRESS_METHOD,
                                         "regression", method_check)
    if len(signature.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise invalid_argument("No regression inputs found in SignatureDef: "
                               + _signature_text(servable, name))
    if "outputs" not in signature.outputs:
        raise invalid_argument("No regression outputs found in SignatureDef: "
                               + _signature_text(servable, name))
    return name


def classify_result(servable: Servable, signature_name: str, input_proto,
                    method_check: bool = False):
    """Runs a classify signature; returns `(signature name, ClassificationResult)`.

    The serialized tf.Examples are fed to the signature's `inputs` whatever
    dtype it declares, as TF Serving does (the graph's own placeholder decides).
    """
    name, wanted = _classify_signature(servable, signature_name, method_check)
    batch = serialized_examples(input_proto)
    out = run_signature(servable, name, {"inputs": batch}, wanted)
    n = len(batch)
    for key, want in (("classes", "DT_STRING"), ("scores", "DT_FLOAT")):
        array = out.get(key)
        if array is None:
            continue
        if array.ndim != 2:
            raise invalid_argument("Expected Tensor shape: [batch_size num_classes] but got "
                                   + tensors.shape_text(array.shape))
        if _dtype_enum_name(array) != want:
            raise invalid_argument(f"Expected {key} Tensor of {want}. Got: "
                                   f"{_dtype_enum_name(array)}")
        if array.shape[0] != n:
            raise invalid_argument(f"Expected {key} output batch size of {n}. Got: "
                                   f"{array.shape[0]}")
    classes, scores = out.get("classes"), out.get("scores")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(f"Tensors class and score should match in dim_size(1). Got "
                               f"{classes.shape[1]} vs. {scores.shape[1]}")
    result = classification_pb2.ClassificationResult()
    width = (classes if classes is not None else scores).shape[1]
    for row in range(n):
        item = result.classifications.add()
        for col in range(width):
            cls = item.classes.add()
            if classes is not None:
                value = classes[row, col]
                cls.label = value.decode("utf-8", "replace") if isinstance(value, bytes) \
                    else str(value)
            if scores is not None:
                cls.score = float(scores[row, col])
    return name, result


def regress_result(servable: Servable, signature_name: str, input_proto,
                   method_check: bool = False):
    """Runs a regress signature; returns `(signature name, RegressionResult)`.

    As TF Serving's regressor: the serialized tf.Examples go to `inputs`
    whatever dtype it declares; `outputs` must be float, `[n]` or `[n, 1]`.
    """
    name = _regress_signature(servable, signature_name, method_check)
    batch = serialized_examples(input_proto)
    values = run_signature(servable, name, {"inputs": batch}, ["outputs"])["outputs"]
    n = len(batch)
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise invalid_argument("Expected output Tensor shape to be either [batch_size] or "
                               "[batch_size, 1] but got " + tensors.shape_text(values.shape))
    if values.shape[0] != n:
        raise invalid_argument(f"Input batch size did not match output batch size: {n} vs. "
                               f"{values.shape[0]}")
    if _dtype_enum_name(values) != "DT_FLOAT":
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: "
                               f"{_dtype_enum_name(values)}")
    result = regression_pb2.RegressionResult()
    for value in values.reshape(-1):
        result.regressions.add().value = float(value)
    return name, result


def classify(servable: Servable, request,
             method_check: bool = False) -> classification_pb2.ClassificationResponse:
    return _response(classify_result, classification_pb2.ClassificationResponse, servable,
                     request, method_check)


def regress(servable: Servable, request,
            method_check: bool = False) -> regression_pb2.RegressionResponse:
    return _response(regress_result, regression_pb2.RegressionResponse, servable, request,
                     method_check)


def _response(compute, response_type, servable: Servable, request, method_check: bool):
    """`compute(servable, signature, input, method_check)` -> `(name, result)`, wrapped in
    a `response_type` with its model spec (Classify and Regress answer alike)."""
    name, result = compute(servable, request.model_spec.signature_name, request.input,
                           method_check)
    response = response_type(result=result)
    _fill_spec(response.model_spec, servable, name)
    return response


def _input_tensor(servable: Servable, name: str) -> str | None:
    """The graph tensor a task feeds, where tasks share one graph (a TF1 session).

    A TF2 SavedModel gives every signature function its own input placeholder
    (`classify_x_to_y_inputs:0`, `regress_x_to_y_inputs:0`), and TF Serving's own
    `testMultiInferenceTf2` runs classify and regress together on it; so the
    one-input-tensor rule is applied to session graphs only (None: not checked).
    """
    defs = getattr(servable, "signature_defs", None)
    if defs is None or getattr(servable, "backend", "session") != "session":
        return None
    return defs[name].inputs["inputs"].name


def multi_inference(servable: Servable, request,
                    method_check: bool = False) -> inference_pb2.MultiInferenceResponse:
    """Classify/regress tasks on one model sharing one `Input`.

    As TF Serving's `TensorFlowMultiInferenceRunner`: every task is checked
    (one model, no signature twice, a classify or regress method, one input
    tensor for all) before any runs; the tasks then run one after the other.
    """
    if not request.tasks:
        raise invalid_argument("MultiInferenceRequest has no tasks.")
    seen, input_tensor = set(), None
    for task in request.tasks:
        if task.model_spec.name != servable.name:
            raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access "
                                   "the same model name.")
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature in seen:
            raise invalid_argument(f"Duplicate evaluation of signature: {signature}")
        seen.add(signature)
        if signature not in servable.signatures:
            raise invalid_argument(f"Requested signature not found in model graph: {signature}")
        if task.method_name == CLASSIFY_METHOD:
            _classify_signature(servable, signature, method_check)
        elif task.method_name == REGRESS_METHOD:
            _regress_signature(servable, signature, method_check)
        else:
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                               f"Unsupported signature method_name: {task.method_name}")
        name = _input_tensor(servable, signature)
        if input_tensor is not None and name is not None and name != input_tensor:
            raise invalid_argument("Input tensor must be the same for all Signatures.")
        input_tensor = input_tensor or name
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        item = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            name, result = classify_result(servable, signature, request.input, method_check)
            item.classification_result.CopyFrom(result)
        else:
            name, result = regress_result(servable, signature, request.input, method_check)
            item.regression_result.CopyFrom(result)
        _fill_spec(item.model_spec, servable, name)
    return response
