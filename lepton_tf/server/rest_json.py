"""TF Serving's REST JSON: request bodies -> numpy/protos, results -> JSON.

Row form (`instances` -> `predictions`) and columnar form (`inputs` ->
`outputs`), `{"b64": ...}` for bytes, and tf.Example JSON for classify and
regress; error texts follow TF Serving's `json_tensor.cc`.
"""

from __future__ import annotations

import base64
import json

import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import input_pb2

from lepton_tf.server import inference
from lepton_tf.server.errors import ServingError, invalid_argument
from lepton_tf.server.limits import MAX_RANK
from lepton_tf.server.servable import Signature
from lepton_tf.server.tensors import tf_type_name

_INT_KINDS = "iu"


def _json_type(value) -> str:
    return {bool: "Boolean", str: "String", dict: "Object", list: "Array",
            type(None): "Null"}.get(type(value), "Number")


def _type_error(value, dtype: str):
    return invalid_argument(f"JSON Value: {json.dumps(value)} Type: {_json_type(value)} "
                            f"is not of expected type: {tf_type_name(dtype)}")


def parse_body(body: bytes) -> dict:
    """The top-level JSON object of a request.

    Raises:
        ServingError: INVALID_ARGUMENT "JSON Parse error: ..." or "Is not object".
    """
    if not body or not body.strip():
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid_argument("JSON Parse error: Invalid encoding in string.") from None
    except ValueError as e:
        raise invalid_argument(f"JSON Parse error: Invalid value. {e}") from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: nested too deeply") from None
    if b"\\u" in body and _has_lone_surrogate(doc):
        raise invalid_argument("JSON Parse error: The surrogate pair in string is invalid.")
    if not isinstance(doc, dict):
        raise invalid_argument(f"JSON Value: {json.dumps(doc)[:200]} Is not object")
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument("'signature_name' key must be a string value.")
    return doc


def parse_route_body(body: bytes) -> dict:
    """`parse_body` for lepton-tf's own REST routes (not TF Serving's), whose
    errors say "Malformed JSON body: ...".

    Raises:
        ServingError: INVALID_ARGUMENT.
    """
    try:
        return parse_body(body)
    except ServingError as e:
        raise invalid_argument(f"Malformed JSON body: {e.message}") from None


def _has_lone_surrogate(doc) -> bool:
    """True if a string of `doc` holds an escaped lone surrogate (`"\\ud800"`): text
    that is not Unicode, refused as rapidjson (TF Serving's parser) refuses it."""
    try:
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _leaf(value, dtype: str):
    if dtype == "string":
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise invalid_argument("Unable to base64 decode") from None
        raise _type_error(value, dtype)
    kind = np.dtype(dtype).kind
    if kind == "b":
        ok = isinstance(value, bool)
    elif kind in _INT_KINDS:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise _type_error(value, dtype)
    return value


def to_array(value, dtype: str) -> np.ndarray:
    """A JSON value (nested lists) -> dense array of `dtype`.

    Raises:
        ServingError: INVALID_ARGUMENT for a wrong leaf type or ragged lists.
    """
    if dtype != "string":
        fast = _numeric_fast_path(value, dtype)
        if fast is not None:
            return fast
    shape, node = [], value
    while isinstance(node, list):
        if len(shape) == MAX_RANK:
            raise invalid_argument(f"JSON list nested deeper than the maximum tensor rank "
                                   f"of {MAX_RANK}")
        shape.append(len(node))
        if not node:
            break
        node = node[0]
    flat: list = []

    def walk(item, level):
        if level == len(shape):
            if isinstance(item, list):
                raise invalid_argument(f"Encountered list at unexpected level: {level} "
                                       f"expected < {len(shape)}")
            flat.append(_leaf(item, dtype))
            return
        if not isinstance(item, list) or len(item) != shape[level]:
            size = len(item) if isinstance(item, list) else 1
            raise invalid_argument(f"Encountered list at unexpected size: {size} at level: "
                                   f"{level} expected size: {shape[level]}")
        for sub in item:
            walk(sub, level + 1)

    walk(value, 0)
    if dtype == "string":
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    try:
        return np.array(flat, dtype=np.dtype(dtype)).reshape(shape)
    except OverflowError:
        raise invalid_argument(f"JSON value out of range for {tf_type_name(dtype)}") from None


def _numeric_fast_path(value, dtype: str) -> np.ndarray | None:
    """numpy's own conversion when the JSON is a dense array of the right kind of number.

    None sends the value through the element-wise path, which also words the
    errors (ragged lists, strings, bools where numbers are expected).
    """
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError):
        return None
    target = np.dtype(dtype)
    allowed = {"b": "b", "i": "i", "u": "i", "f": "if", "c": "if"}.get(target.kind, "")
    if array.dtype.kind not in allowed or array.size == 0:
        return None
    try:
        with np.errstate(over="raise", invalid="raise"):
            converted = array.astype(target)
    except (FloatingPointError, OverflowError, ValueError):
        return None
    if target.kind in "iu" and not np.array_equal(converted, array):
        return None  # out of range for the type: let the slow path refuse it
    return converted


def _is_b64(value) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _only_input(specs, value, refusal: str) -> dict[str, np.ndarray]:
    """An unnamed value is the signature's one input; refused when it has several."""
    if len(specs) > 1:
        raise invalid_argument(f"{refusal} as multiple input tensors required as per "
                               "tensorinfo_map")
    alias, spec = next(iter(specs.items()))
    return {alias: to_array(value, spec.dtype)}


def decode_predict(doc: dict, signature: Signature) -> tuple[dict[str, np.ndarray], bool]:
    """`(inputs, row_format)` of a `:predict` body for `signature`."""
    specs = signature.inputs
    if "instances" in doc and "inputs" in doc:
        raise invalid_argument("Not formatted correctly expecting only one of 'inputs' or "
                               "'instances' keys to exist")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid_argument("Excepting 'instances' to be an list/array")
        if not instances:
            raise invalid_argument("No values in 'instances' array")
        named = isinstance(instances[0], dict) and not _is_b64(instances[0])
        if not named:
            return _only_input(specs, instances, "instances is a plain list, but expecting "
                               "list of objects"), True
        columns: dict[str, list] = {name: [] for name in specs}
        for index, item in enumerate(instances):
            if not isinstance(item, dict) or _is_b64(item):
                raise invalid_argument(f"Expecting object but got list at item {index} of "
                                       "input list")
            if set(item) != set(specs):
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{json.dumps(item)[:200]} must only have keys: {','.join(sorted(specs))}")
            for name in specs:
                columns[name].append(item[name])
        return {name: to_array(values, specs[name].dtype)
                for name, values in columns.items()}, True
    if "inputs" in doc:
        value = doc["inputs"]
        if not isinstance(value, dict) or _is_b64(value):
            return _only_input(specs, value, "inputs is a plain value/list, but expecting "
                               "an object"), False
        for name in specs:
            if name not in value:
                raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        return {name: to_array(value[name], spec.dtype) for name, spec in specs.items()}, False
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _json_value(array: np.ndarray, alias: str):
    if array.dtype == object or array.dtype.kind == "S":
        def text(item):
            raw = item if isinstance(item, bytes) else str(item).encode()
            if alias.endswith("_bytes"):
                return {"b64": base64.b64encode(raw).decode()}
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(raw).decode()}
        return np.vectorize(text, otypes=[object])(array).tolist() if array.size else \
            array.tolist()
    # NaN and infinities are written bare (NaN, Infinity), as TF Serving's rapidjson does.
    return array.tolist()


def encode_predict(outputs: dict[str, np.ndarray], row_format: bool) -> dict:
    """Predict outputs in the form the request used."""
    if not row_format:
        if len(outputs) == 1:
            alias, array = next(iter(outputs.items()))
            return {"outputs": _json_value(array, alias)}
        return {"outputs": {k: _json_value(v, k) for k, v in outputs.items()}}
    sizes = {k: (v.shape[0] if v.ndim else None) for k, v in outputs.items()}
    batch = next(iter(sizes.values()))
    for alias, size in sizes.items():
        if size is None or size != batch:
            raise invalid_argument(f"Tensor name: {alias} has inconsistent batch size: "
                                   f"{size} expecting: {batch}")
    if len(outputs) == 1:
        alias, array = next(iter(outputs.items()))
        return {"predictions": _json_value(array, alias)}
    columns = {k: _json_value(v, k) for k, v in outputs.items()}
    return {"predictions": [{k: columns[k][i] for k in columns} for i in range(batch)]}


def _feature(name: str, value) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    for item in values:
        if isinstance(item, bool) or (isinstance(item, int)):
            kind, item = "int64_list", int(item)
            if not -2**63 <= item < 2**63:
                raise invalid_argument(f"Feature: {name} has an integer out of the int64 "
                                       f"range: {str(item)[:40]}")
        elif isinstance(item, float):
            kind = "float_list"
        elif isinstance(item, str) or _is_b64(item):
            kind, item = "bytes_list", _leaf(item, "string")
        else:
            raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: "
                                   f"{_json_type(item)}")
        if feature.WhichOneof("kind") not in (None, kind):
            raise invalid_argument(f"Unexpected element type in feature: {name} expecting "
                                   f"type: {feature.WhichOneof('kind').split('_')[0]}")
        getattr(feature, kind).value.append(item)
    return feature


def _example(value) -> example_pb2.Example:
    if not isinstance(value, dict):
        raise invalid_argument("Example must be JSON object but got JSON "
                               f"{_json_type(value).lower()}")
    example = example_pb2.Example()
    for name, item in value.items():
        example.features.feature[name].CopyFrom(_feature(name, item))
    return example


def decode_examples(doc: dict) -> input_pb2.Input:
    """The `Input` of a `:classify`/`:regress` body (`examples`, optional `context`)."""
    examples = doc.get("examples")
    if not isinstance(examples, list):
        raise invalid_argument("'examples' key must be an array of objects")
    result = input_pb2.Input()
    if "context" in doc:
        target = result.example_list_with_context
        target.context.CopyFrom(_example(doc["context"]))
    else:
        target = result.example_list
    for item in examples:
        target.examples.add().CopyFrom(_example(item))
    return result


def encode_classify(result) -> dict:
    return {"results": [[[c.label, c.score] for c in item.classes]
                        for item in result.classifications]}


def encode_regress(result) -> dict:
    return {"results": [r.value for r in result.regressions]}


def run_action(action: str, servable, body: bytes, method_check: bool = False) -> dict:
    """A `:predict`, `:classify` or `:regress` body on one servable -> response JSON.

    The JSON is decoded against the signature's declared dtypes (as TF
    Serving's `json_tensor.cc` does), then the request goes through the same
    checks and run as its gRPC twin (`inference`).
    """
    doc = parse_body(body)
    signature_name = doc.get("signature_name", "")
    if action == "predict":
        name, signature = inference.resolve_signature(servable, signature_name)
        inputs, row_format = decode_predict(doc, signature)
        _, outputs = inference.predict_arrays(servable, name, inputs, method_check=method_check)
        return encode_predict(outputs, row_format)
    examples = decode_examples(doc)
    if action == "classify":
        _, result = inference.classify_result(servable, signature_name, examples, method_check)
        return encode_classify(result)
    _, result = inference.regress_result(servable, signature_name, examples, method_check)
    return encode_regress(result)
