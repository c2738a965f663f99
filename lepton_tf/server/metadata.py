"""GetModelMetadata and GetModelStatus answers, shared by gRPC and REST."""

from __future__ import annotations

import grpc
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2

from lepton_tf.server.errors import invalid_argument
from lepton_tf.server.servable import Servable, TensorSpec

SIGNATURE_DEF_FIELD = "signature_def"


def _tensor_info(spec: TensorSpec) -> meta_graph_pb2.TensorInfo:
    info = meta_graph_pb2.TensorInfo(
        name=f"{spec.name}:0", dtype=tf.as_dtype(spec.dtype).as_datatype_enum)
    if spec.shape is None:
        info.tensor_shape.unknown_rank = True
    else:
        info.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(dim=[
            tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else d)
            for d in spec.shape]))
    return info


def signature_def_map(servable: Servable) -> get_model_metadata_pb2.SignatureDefMap:
    """The servable's signatures as TF Serving's `SignatureDefMap`.

    SavedModels give their own `signature_def` protos (tensor names and all,
    `__saved_model_init_op` included, as TF Serving returns the MetaGraphDef's
    whole map); Python servables get ones built from their `Signature`s.
    """
    result = get_model_metadata_pb2.SignatureDefMap()
    defs = getattr(servable, "signature_defs", None)
    if defs is not None:
        for name, sig in defs.items():
            result.signature_def[name].CopyFrom(sig)
        return result
    for name, sig in servable.signatures.items():
        target = result.signature_def[name]
        target.method_name = sig.method_name
        for alias, spec in sig.inputs.items():
            target.inputs[alias].CopyFrom(_tensor_info(spec))
        for alias, spec in sig.outputs.items():
            target.outputs[alias].CopyFrom(_tensor_info(spec))
    return result


def metadata_response(servable: Servable, fields) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata for one servable version.

    Raises:
        ServingError: INVALID_ARGUMENT without fields or for a field other
            than `signature_def` (TF Serving's only one).
    """
    fields = list(fields)
    if not fields:
        raise invalid_argument("GetModelMetadataRequest must specify at least one "
                               "metadata_field")
    for field in fields:
        if field != SIGNATURE_DEF_FIELD:
            raise invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = servable.name
    response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_def_map(servable))
    return response


def status_response(rows) -> get_model_status_pb2.GetModelStatusResponse:
    """`(version, state, error)` rows -> GetModelStatusResponse."""
    response = get_model_status_pb2.GetModelStatusResponse()
    for version, state, error in rows:
        item = response.model_version_status.add(version=version, state=state)
        item.status.SetInParent()  # TF Serving always sets it (OK for a healthy version)
        if error is not None:
            item.status.error_code = error.code.value[0]
            item.status.error_message = error.message
    return response


def _json(message) -> dict:
    """A proto as TF Serving's REST front prints it: proto field names, and
    default-valued fields included (`always_print_primitive_fields`)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def metadata_json(servable: Servable) -> dict:
    """`GET /v1/models/{name}[/versions/{v}]/metadata`, as TF Serving writes it:
    the model spec (`signature_name` "", the version as a string) and the
    `SignatureDefMap` (`"name": ""` on every dim, `"unknown_rank": false`,
    `"defaults": {}`, ...)."""
    response = metadata_response(servable, [SIGNATURE_DEF_FIELD])
    return {"model_spec": _json(response.model_spec),
            "metadata": {SIGNATURE_DEF_FIELD: _json(signature_def_map(servable))}}


def status_json(rows) -> dict:
    """`GET /v1/models/{name}[/versions/{v}|/labels/{l}]`: GetModelStatusResponse
    in TF Serving's REST spelling (`error_code` by name, empty message printed)."""
    response = status_response(rows)
    doc = _json(response)
    for item in doc.get("model_version_status", []):
        code = item["status"].get("error_code", 0)
        if isinstance(code, int):  # an int32 field in StatusProto; TF Serving prints the name
            item["status"]["error_code"] = next(
                c.name for c in grpc.StatusCode if c.value[0] == code)
    return doc
