"""A seeded corpus of hostile gRPC calls (serialized bytes per method) and its judge.

Classes: TensorProtos with every DataType (quantized, resource, variant,
reference, unknown), shapes with huge, negative or 2**62 dimensions and
ranks past 64, one typed value stated for a huge shape (string and double),
content that does not match the shape, 100 KB model names and signature
names, odd versions and labels, bad output filters, classify/regress/
MultiInference inputs, metadata fields, status without a spec, bytes that do
not parse (random, truncated, invalid UTF-8 in a string field) on every
method including `HandleReloadConfigRequest` and the assistant stream, batches
past the row limit, and 1 ms deadlines.
"""

import random
from concurrent import futures

import grpc
from google.protobuf import struct_pb2
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    predict_pb2,
    regression_pb2,
)

PREDICT = "/tensorflow.serving.PredictionService/Predict"
CLASSIFY = "/tensorflow.serving.PredictionService/Classify"
REGRESS = "/tensorflow.serving.PredictionService/Regress"
MULTI = "/tensorflow.serving.PredictionService/MultiInference"
METADATA = "/tensorflow.serving.PredictionService/GetModelMetadata"
STATUS = "/tensorflow.serving.ModelService/GetModelStatus"
RELOAD = "/tensorflow.serving.ModelService/HandleReloadConfigRequest"
STREAM = "/lepton.assistant.v1.Assistant/Stream"
METHODS = [PREDICT, CLASSIFY, REGRESS, MULTI, METADATA, STATUS, RELOAD]
INPUTS = {"half": "x", "words": "text", "chat": "context", "encoder": "text", "search": "query",
          "tf1": "x", "intent": "text"}
HUGE_NAME = "n" * 100_000
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.DEADLINE_EXCEEDED,
           grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE,
           grpc.StatusCode.UNIMPLEMENTED}
_DIMS = [0, 1, 2, 3, 7, -1, -5, 2**27, 2**31, 2**62, 10**12, 100_000]


def _tensor(rng: random.Random) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto()
    proto.dtype = rng.choice(list(types_pb2.DataType.values()) + [999, 0, 0])
    if rng.random() < 0.5:
        proto.dtype = rng.choice([types_pb2.DT_STRING, types_pb2.DT_FLOAT,
                                  types_pb2.DT_DOUBLE, types_pb2.DT_QINT8])
    rank = rng.choice([0, 1, 1, 2, 3, 33, 35, 64, 65, 70, 100])
    for _ in range(rank):
        proto.tensor_shape.dim.add(size=rng.choice(_DIMS) if rank < 30 else rng.choice([1, 1, 0]))
    if 30 < rank < 65 and rng.random() < 0.7:  # a deep string batch a model could run
        proto.dtype = types_pb2.DT_STRING
        del proto.tensor_shape.dim[:]
        proto.tensor_shape.dim.extend([tensor_shape_pb2.TensorShapeProto.Dim(size=1)] * rank)
        proto.string_val.append(b"x")
        return proto
    fill = rng.randrange(6)
    if fill == 0:
        proto.string_val.extend([rng.randbytes(rng.randrange(0, 40))] * rng.randrange(0, 3))
    elif fill == 1:
        proto.float_val.extend([rng.random()] * rng.randrange(0, 4))
    elif fill == 2:
        proto.double_val.append(1.0)
    elif fill == 3:
        proto.tensor_content = rng.randbytes(rng.choice([0, 1, 3, 8, 17]))
    elif fill == 4:
        proto.int_val.extend([rng.randrange(-2**31, 2**31)] * rng.randrange(0, 3))
    return proto


def _spec(spec, rng: random.Random, model: str) -> None:
    spec.name = rng.choice([model] * 6 + [HUGE_NAME, "", "\u00b2", "nope", "a/b", "\x00"])
    pick = rng.randrange(6)
    if pick == 1:
        spec.version.value = rng.choice([-1, 0, 2**63 - 1, 50])
    elif pick == 2:
        spec.version_label = rng.choice(["nope", HUGE_NAME[:5000], "", "stable"])
    spec.signature_name = rng.choice(["", "", "serving_default", "nope", HUGE_NAME,
                                      "generate", "search", "column"])


def _predict(rng: random.Random) -> bytes:
    model = rng.choice(list(INPUTS))
    request = predict_pb2.PredictRequest()
    _spec(request.model_spec, rng, model)
    alias = INPUTS[model]
    kind = rng.randrange(5)
    if kind == 0:  # one typed value broadcast to a big shape
        proto = request.inputs[alias]
        proto.dtype = rng.choice([types_pb2.DT_STRING, types_pb2.DT_DOUBLE, types_pb2.DT_FLOAT])
        proto.tensor_shape.dim.add(size=rng.choice([100_000, 2**27, 2**40]))
        if proto.dtype == types_pb2.DT_STRING:
            proto.string_val.append(b"x" * 40)
        else:
            getattr(proto, "double_val" if proto.dtype == types_pb2.DT_DOUBLE
                    else "float_val").append(1.0)
    elif kind == 1:  # a batch past the row limit
        proto = request.inputs[alias]
        proto.dtype = types_pb2.DT_STRING
        n = rng.choice([8193, 10_000, 20_000])
        proto.tensor_shape.dim.add(size=n)
        proto.string_val.extend([b"hi"] * n)
    else:
        for _ in range(rng.choice([1, 1, 2])):
            name = rng.choice([alias, alias, "bogus", "", HUGE_NAME[:2000]])
            request.inputs[name].CopyFrom(_tensor(rng))
    if rng.random() < 0.2:
        request.output_filter.extend(rng.choice([["nope"], ["y", "y"], [HUGE_NAME[:3000]]]))
    return request.SerializeToString()


def _examples(rng: random.Random, target) -> None:
    kind = rng.randrange(4)
    examples = target.example_list.examples if kind < 2 else \
        target.example_list_with_context.examples
    if kind == 3:
        return  # no examples: "Input is empty."
    for _ in range(rng.randrange(0, 4)):
        example = example_pb2.Example()
        feature = example.features.feature[rng.choice(["x", "y", "", HUGE_NAME[:1000]])]
        which = rng.randrange(3)
        if which == 0:
            feature.float_list.value.extend([rng.random()] * rng.randrange(0, 3))
        elif which == 1:
            feature.int64_list.value.extend([rng.choice([2**63 - 1, -2**63])])
        else:
            feature.bytes_list.value.append(rng.randbytes(rng.randrange(0, 20)))
        examples.add().CopyFrom(example)
    if kind == 2:
        target.example_list_with_context.context.features.feature["x"].float_list.value \
            .append(1.0)


def _classify_regress(rng: random.Random, method: str) -> bytes:
    request = (classification_pb2.ClassificationRequest() if method == CLASSIFY
               else regression_pb2.RegressionRequest())
    _spec(request.model_spec, rng, rng.choice(["tf1", "half", "words"]))
    request.model_spec.signature_name = rng.choice(
        ["classify_x_to_y", "regress_x_to_y", "", "serving_default", "nope"])
    _examples(rng, request.input)
    return request.SerializeToString()


def _multi(rng: random.Random) -> bytes:
    request = inference_pb2.MultiInferenceRequest()
    for _ in range(rng.randrange(0, 4)):
        task = request.tasks.add()
        _spec(task.model_spec, rng, "tf1")
        task.model_spec.signature_name = rng.choice(["classify_x_to_y", "regress_x_to_y", ""])
        task.method_name = rng.choice(["tensorflow/serving/classify",
                                       "tensorflow/serving/regress", "x", ""])
    _examples(rng, request.input)
    return request.SerializeToString()


def _metadata(rng: random.Random) -> bytes:
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    _spec(request.model_spec, rng, rng.choice(list(INPUTS)))
    request.metadata_field.extend(rng.choice([[], ["signature_def"], ["nope"], [HUGE_NAME],
                                              ["signature_def", "signature_def"]]))
    return request.SerializeToString()


def _status(rng: random.Random) -> bytes:
    request = get_model_status_pb2.GetModelStatusRequest()
    if rng.random() < 0.8:
        _spec(request.model_spec, rng, rng.choice(list(INPUTS)))
    return request.SerializeToString()


def _garbage(rng: random.Random, valid: bytes) -> bytes:
    pick = rng.randrange(4)
    if pick == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if pick == 1:
        return valid[:max(1, rng.randrange(len(valid) or 1))] + b"\xff"
    if pick == 2:  # model_spec { name: <invalid UTF-8> }
        return b"\x0a\x04\x0a\x02\xff\xfe"
    return b"\x0a" + b"\xff" * 10  # a length that overflows


def _stream(rng: random.Random) -> bytes:
    request = struct_pb2.Struct()
    pick = rng.randrange(4)
    if pick == 0:
        request.update({"session_id": "s", "message": "card"})
    elif pick == 1:
        request.update({"session_id": rng.choice(["", 5, HUGE_NAME[:3000]]), "message": "x"})
    elif pick == 2:
        request.update({"session_id": "s", "message": rng.choice([None, 3.5, [], {}])})
    else:
        data = b"\x08\x01"  # not a Struct
        return data + rng.randbytes(8)
    return request.SerializeToString()


def grpc_call(rng: random.Random) -> tuple[str, bytes, float]:
    """One `(method path, request bytes, timeout in s)`."""
    method = rng.choices(METHODS + [STREAM], [40, 9, 9, 7, 8, 8, 5, 8])[0]
    build = {PREDICT: _predict, CLASSIFY: lambda r: _classify_regress(r, CLASSIFY),
             REGRESS: lambda r: _classify_regress(r, REGRESS), MULTI: _multi,
             METADATA: _metadata, STATUS: _status, STREAM: _stream,
             RELOAD: lambda r: b""}[method]
    data = build(rng)
    if method == RELOAD or rng.random() < 0.12:
        data = _garbage(rng, data)
    timeout = 0.001 if rng.random() < 0.05 else 20.0
    return method, data, timeout


def send_call(channel: grpc.Channel, method: str, data: bytes, timeout: float,
              metadata=()):
    """`(code, details)` of one call sent as raw bytes."""
    try:
        if method == STREAM:
            call = channel.unary_stream(method)
            for _ in call(data, timeout=timeout, metadata=metadata):
                pass
        else:
            channel.unary_unary(method)(data, timeout=timeout, metadata=metadata)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def problems_of(channel: grpc.Channel, corpus: list, judge, workers: int = 4) -> list:
    """`judge(item)` of every call of `corpus`, 4 at a time; the problems it found
    (`(method, problem)`, None for a good answer). Closes `channel`."""
    try:
        with futures.ThreadPoolExecutor(workers) as pool:
            return [p for p in pool.map(judge, corpus) if p is not None]
    finally:
        channel.close()


def judged(method: str, data: bytes, code, details: str):
    """`(short method name, problem)` of an answer `judge_grpc` finds wrong, else None."""
    problem = judge_grpc(method, data, code, details)
    return None if problem is None else (method.rsplit("/", 1)[1], problem)


def judge_grpc(method: str, data: bytes, code, details: str) -> str | None:
    """What is wrong with an answer, or None."""
    if code not in ALLOWED:
        return f"{code.name}: {details[:200]}"
    if "\n" in details or len(details) > 1200:
        return f"{code.name} with a message that is not one short line ({len(details)} chars)"
    return None
