"""`TensorProto` <-> numpy, and the Predict request checks TF Serving makes.

Inputs may come as `tensor_content` or typed fields; outputs are written as
typed fields (TF Serving's default `AsProtoField`), so clients reading
`float_val`/`string_val` work as they do against TF Serving.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from lepton_tf.server.errors import invalid_argument
from lepton_tf.server.servable import Signature, TensorSpec

_TYPED_FIELDS = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val", types_pb2.DT_STRING: "string_val",
}


def dtype_name(array: np.ndarray) -> str:
    """The `TensorSpec.dtype` spelling of an array's type (`string` for bytes)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return "string"
    return array.dtype.name


def tf_type_name(name: str) -> str:
    """`float32` -> `float`, as TensorFlow's error messages (DataTypeString) spell types."""
    enum = tf.as_dtype("string" if name == "string" else name).as_datatype_enum
    return types_pb2.DataType.Name(enum)[len("DT_"):].lower()


# A typed-field tensor may state a huge shape with one value that TensorFlow
# broadcasts; refuse expansions past this many elements instead of exhausting memory.
MAX_ELEMENTS = 1 << 27


def to_numpy(proto: tensor_pb2.TensorProto, alias: str) -> np.ndarray:
    """Decodes one request tensor.

    Raises:
        ServingError: INVALID_ARGUMENT "tensor parsing error: alias".
    """
    dims = [d.size for d in proto.tensor_shape.dim]
    elements = 1
    for d in dims:
        elements *= d
    if min(dims, default=0) < 0 or elements > MAX_ELEMENTS:
        raise invalid_argument(f"tensor parsing error: {alias} (shape {dims} is negative "
                               f"or has more than {MAX_ELEMENTS} elements)")
    # Strings as typed fields (what clients send) straight to an object array;
    # tf.make_ndarray would build a bytes array and convert it again.
    if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) == elements and dims:
        array = np.empty(elements, dtype=object)
        array[:] = proto.string_val
        return array.reshape(dims)
    try:
        array = tf.make_ndarray(proto)
    except Exception:  # noqa: BLE001 - any decoding failure is the client's input
        raise invalid_argument(f"tensor parsing error: {alias}") from None
    if array.dtype.kind == "S":
        array = array.astype(object)
    return array


_ENUMS: dict = {}  # numpy dtype -> DataType enum, filled as outputs are seen


# TensorFlow's numpy conversion handles string (object) arrays of at most
# this rank; a deeper one crashes the process (SIGSEGV) inside `tf.constant`.
MAX_NUMPY_STRING_RANK = 32


def to_tensor(array: np.ndarray):
    """`tf.constant(array)`, for a string array of any rank too.

    A string array deeper than `MAX_NUMPY_STRING_RANK` goes in flat and is
    reshaped by TensorFlow, so the model's own checks see it (and refuse it
    with INVALID_ARGUMENT) instead of the conversion crashing the server.
    """
    if array.dtype == object and array.ndim > MAX_NUMPY_STRING_RANK:
        return tf.reshape(tf.constant(array.reshape(-1)), array.shape)
    return tf.constant(array)


def _enum(dtype: np.dtype) -> int:
    enum = _ENUMS.get(dtype)
    if enum is None:
        enum = _ENUMS[dtype] = tf.as_dtype(tf.string if dtype == object else dtype) \
            .as_datatype_enum
    return enum


def to_proto(array: np.ndarray, as_content: bool = False) -> tensor_pb2.TensorProto:
    """Encodes one output, as typed fields unless `as_content` (or no field fits)."""
    proto = tensor_pb2.TensorProto()
    fill_proto(proto, array, as_content)
    return proto


def fill_proto(proto: tensor_pb2.TensorProto, array: np.ndarray,
               as_content: bool = False) -> None:
    """`to_proto` written into an empty `proto` (a response's map entry: no copy)."""
    array = np.asarray(array)
    if array.dtype.kind == "U":
        array = np.vectorize(lambda s: s.encode("utf-8"), otypes=[object])(array)
    enum = _enum(array.dtype)
    field = _TYPED_FIELDS.get(enum)
    if as_content or field is None:
        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = enum
    proto.tensor_shape.SetInParent()  # a scalar's empty shape is set, as AsProtoField sets it
    dims = proto.tensor_shape.dim
    for d in array.shape:
        dims.add().size = d
    getattr(proto, field).extend(array.ravel().tolist())


def _shape_ok(spec: TensorSpec, shape: tuple) -> bool:
    if spec.shape is None:
        return True
    if len(spec.shape) != len(shape):
        return False
    return all(want is None or want < 0 or want == got for want, got in zip(spec.shape, shape))


def shape_text(shape) -> str:
    return "<unknown>" if shape is None else \
        "[" + ",".join("?" if d is None or d < 0 else str(d) for d in shape) + "]"


def check_input_aliases(signature: Signature, aliases) -> None:
    """TF Serving's Predict input checks (`predict_util.cc`): count, then names.

    Dtypes and shapes are not checked here: TF Serving leaves them to
    TensorFlow's runtime, and so does a SavedModel here.

    Raises:
        ServingError: INVALID_ARGUMENT with TF Serving's wording.
    """
    expected, sent = signature.inputs, set(aliases)
    if len(sent) != len(expected):
        extra = sorted(sent - set(expected))
        missing = sorted(set(expected) - sent)
        raise invalid_argument(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(extra)}}}. Missing but required: {{{','.join(missing)}}}.")
    for alias in sorted(sent):
        if alias not in expected:
            raise invalid_argument(
                f"input tensor alias not found in signature: {alias}. Inputs expected "
                f"to be in the set {{{','.join(sorted(expected))}}}.")


def check_dtypes_and_shapes(signature: Signature, inputs: dict[str, np.ndarray]) -> None:
    """What a TensorFlow function refuses, checked for a Python servable.

    A SavedModel's dtypes and shapes are TensorFlow's to check (as in TF
    Serving); a servable written in Python (search, assistant) has no runtime
    that does it, so the server checks its declared signature for it, in the
    words TensorFlow's session uses.

    Raises:
        ServingError: INVALID_ARGUMENT.
    """
    for index, alias in enumerate(sorted(signature.inputs)):
        spec, array = signature.inputs[alias], inputs[alias]
        got = dtype_name(array)
        if got != spec.dtype:
            raise invalid_argument(
                f"Expects arg[{index}] to be {tf_type_name(spec.dtype)} but "
                f"{tf_type_name(got)} is provided (input '{alias}').")
        if not _shape_ok(spec, array.shape):
            raise invalid_argument(
                f"Input '{alias}' has shape {shape_text(array.shape)} but the signature "
                f"expects {shape_text(spec.shape)}.")


def check_output_filter(signature: Signature, output_filter) -> list[str]:
    """The output aliases to return, in request order (all if none given).

    Raises:
        ServingError: INVALID_ARGUMENT for an unknown or duplicate alias.
    """
    seen: list[str] = []
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid_argument(
                f"output tensor alias not found in signature: {alias} Outputs expected "
                f"to be in the set {{{','.join(sorted(signature.outputs))}}}.")
        if alias in seen:
            raise invalid_argument(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or list(signature.outputs)
