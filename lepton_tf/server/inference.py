"""The four inference APIs on one servable: Predict, Classify, Regress, MultiInference.

Both fronts (gRPC, REST) and the warmup replay call these, so a request
gets the same checks, errors and results whichever way it arrives.
"""

from __future__ import annotations

import numpy as np
from tensorflow_serving.apis import (classification_pb2, inference_pb2, predict_pb2,
                                     regression_pb2)

from lepton_tf.server import deadline, limits, tensors
from lepton_tf.server.errors import ServingError, failed_precondition, internal, invalid_argument
from lepton_tf.server.servable import (CLASSIFY_METHOD, REGRESS_METHOD, Servable, Signature)

DEFAULT_SIGNATURE = "serving_default"


def resolve_signature(servable: Servable, name: str) -> tuple[str, Signature]:
    """`name` (default `serving_default`) and its `Signature`.

    Raises:
        ServingError: FAILED_PRECONDITION if the servable has no such signature.
    """
    name = name or DEFAULT_SIGNATURE
    signature = servable.signatures.get(name)
    if signature is None:
        raise failed_precondition(f'Serving signature key "{name}" not found.')
    return name, signature


def run_signature(servable: Servable, name: str, inputs: dict, outputs: list[str]) -> dict:
    """`servable.run` with its failures turned into status codes.

    A servable's ValueError is the client's input (INVALID_ARGUMENT); anything
    else is a server bug reported as INTERNAL, never a crashed server. The
    model's request limits (`limits.run_bounded`) apply here, for every API.
    """
    deadline.check()  # do not start work nobody waits for

    def run(part):
        if getattr(servable, "accepts_output_names", False):
            return servable.run(name, part, output_names=outputs)
        return servable.run(name, part)
    try:
        result = limits.run_bounded(servable, inputs, run)
    except ServingError:
        raise
    except ValueError as e:
        raise invalid_argument(str(e)) from None
    except Exception as e:  # noqa: BLE001 - see docstring
        raise internal(f"{type(e).__name__}: {e}") from None
    missing = [k for k in outputs if k not in result]
    if missing:
        raise internal(f"Servable {servable.name} did not return outputs {missing}.")
    return {k: np.asarray(result[k]) for k in outputs}


def predict_arrays(servable: Servable, signature_name: str, inputs: dict[str, np.ndarray],
                   output_filter=()) -> tuple[str, dict[str, np.ndarray]]:
    """Predict on numpy inputs: check, run, return `(signature name, outputs)`."""
    name, signature = resolve_signature(servable, signature_name)
    tensors.check_inputs(signature, inputs)
    outputs = tensors.check_output_filter(signature, output_filter)
    return name, run_signature(servable, name, inputs, outputs)


def _fill_spec(spec, servable: Servable, signature_name: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_name


def predict(servable: Servable, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """A `PredictRequest` on one servable version."""
    limits.check_protos(servable, request.inputs)  # before anything is decoded
    inputs = {alias: tensors.to_numpy(proto, alias) for alias, proto in request.inputs.items()}
    name, outputs = predict_arrays(servable, request.model_spec.signature_name, inputs,
                                   list(request.output_filter))
    response = predict_pb2.PredictResponse()
    _fill_spec(response.model_spec, servable, name)
    for alias, array in outputs.items():
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


def _example_signature(servable: Servable, name: str, method: str, kind: str) -> tuple[str, str]:
    name, signature = resolve_signature(servable, name)
    if signature.method_name != method:
        raise invalid_argument(f"Expected {kind} signature method_name to be {method}. "
                               f"Was: {signature.method_name}")
    if len(signature.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    alias, spec = next(iter(signature.inputs.items()))
    if spec.dtype != "string":
        raise invalid_argument("Expected input Tensor of type string (serialized tf.Example).")
    return name, alias


def classify_result(servable: Servable, signature_name: str, input_proto):
    """Runs a classify signature; returns `(signature name, ClassificationResult)`."""
    name, alias = _example_signature(servable, signature_name, CLASSIFY_METHOD, "classification")
    signature = servable.signatures[name]
    wanted = [k for k in ("classes", "scores") if k in signature.outputs]
    if not wanted:
        raise invalid_argument('Expected classification signature outputs to contain at '
                               'least one of "classes" or "scores".')
    batch = serialized_examples(input_proto)
    out = run_signature(servable, name, {alias: batch}, wanted)
    classes, scores = out.get("classes"), out.get("scores")
    n = len(batch)
    for key, array in out.items():
        if array.ndim != 2 or array.shape[0] != n:
            raise invalid_argument(f"Expected {key} Tensor of shape [{n}, num_classes]; "
                                   f"got {list(array.shape)}.")
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


def regress_result(servable: Servable, signature_name: str, input_proto):
    """Runs a regress signature; returns `(signature name, RegressionResult)`."""
    name, alias = _example_signature(servable, signature_name, REGRESS_METHOD, "regression")
    if "outputs" not in servable.signatures[name].outputs:
        raise invalid_argument('No output Tensor named "outputs" found in signature.')
    batch = serialized_examples(input_proto)
    values = run_signature(servable, name, {alias: batch}, ["outputs"])["outputs"]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.shape[0] != len(batch):
        raise invalid_argument(f"Expected output Tensor shape to be [{len(batch)}] or "
                               f"[{len(batch)}, 1]; got {list(values.shape)}.")
    result = regression_pb2.RegressionResult()
    for value in values:
        result.regressions.add().value = float(value)
    return name, result


def classify(servable: Servable, request) -> classification_pb2.ClassificationResponse:
    name, result = classify_result(servable, request.model_spec.signature_name, request.input)
    response = classification_pb2.ClassificationResponse(result=result)
    _fill_spec(response.model_spec, servable, name)
    return response


def regress(servable: Servable, request) -> regression_pb2.RegressionResponse:
    name, result = regress_result(servable, request.model_spec.signature_name, request.input)
    response = regression_pb2.RegressionResponse(result=result)
    _fill_spec(response.model_spec, servable, name)
    return response


def multi_inference(servable: Servable, request) -> inference_pb2.MultiInferenceResponse:
    """Classify/regress tasks on one model sharing one `Input`."""
    if not request.tasks:
        raise invalid_argument("MultiInferenceRequest has no tasks.")
    response = inference_pb2.MultiInferenceResponse()
    seen = set()
    for task in request.tasks:
        if task.model_spec.name != servable.name:
            raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access "
                                   "the same model name.")
        signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if signature in seen:
            raise invalid_argument(f"Duplicate evaluation of signature: {signature}")
        seen.add(signature)
        item = response.results.add()
        if task.method_name == CLASSIFY_METHOD:
            name, result = classify_result(servable, signature, request.input)
            item.classification_result.CopyFrom(result)
        elif task.method_name == REGRESS_METHOD:
            name, result = regress_result(servable, signature, request.input)
            item.regression_result.CopyFrom(result)
        else:
            raise invalid_argument(f"Unsupported signature method_name: {task.method_name}")
        _fill_spec(item.model_spec, servable, name)
    return response
