"""`assets.extra/tf_serving_warmup_requests`: what TF Serving replays on load.

The file is a TFRecord of `PredictionLog` protos (at most 1,000 records are
read); `--enable_model_warmup` runs each before the version is AVAILABLE, so
the first real request does not pay for graph initialisation.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


def predict_request(model_name: str, signature_name: str,
                    inputs: dict[str, np.ndarray]):
    """A `PredictRequest` for the given inputs (numpy arrays or lists)."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def write_warmup_requests(export_dir: str, model_name: str,
                          examples: dict[str, dict[str, np.ndarray]]) -> str:
    """Writes one `PredictionLog` per (signature, example batch).

    Args:
        export_dir: the SavedModel folder (the version folder or its temp).
        model_name: servable name put in each request's `model_spec`.
        examples: signature name -> input name -> batch.

    Returns:
        The path of the warmup file.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for count, (signature, inputs) in enumerate(examples.items()):
            if count >= MAX_WARMUP_RECORDS:
                break
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(
                    request=predict_request(model_name, signature, inputs)))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir: str) -> list:
    """The `PredictionLog` records of a version (empty if it has none)."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs
