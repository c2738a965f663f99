"""`PredictClient`: Predict on `PredictionServiceStub` with deadlines, retries, TLS, token.

Only UNAVAILABLE is retried (the server is restarting or not yet
listening; the request did not run): other codes are answers, and retrying
a DEADLINE_EXCEEDED would double the load on a server already too slow.
"""

from __future__ import annotations

import random
import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def make_channel(target: str, *, tls: bool = False, root_certificates: bytes | None = None,
                 max_message_bytes: int = 64 * 1024 * 1024) -> grpc.Channel:
    """A channel to `target`, TLS when `tls` (or root certificates) are given."""
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    if tls or root_certificates:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.secure_channel(target, credentials, options=options)
    return grpc.insecure_channel(target, options=options)


def _registered_predict(channel: grpc.Channel):
    """`Predict` as a registered method (core skips the per-call path lookup), or None."""
    try:
        return channel.unary_unary(
            "/tensorflow.serving.PredictionService/Predict",
            request_serializer=predict_pb2.PredictRequest.SerializeToString,
            response_deserializer=predict_pb2.PredictResponse.FromString,
            _registered_method=True)
    except TypeError:  # a channel class without registered methods
        return None


class PredictClient:
    """Predict calls to one TF Serving (or lepton-tf) server.

    Args:
        target: `HOST:PORT`.
        timeout_s: deadline of each attempt.
        retries: extra attempts after UNAVAILABLE.
        backoff_s: first wait; doubles each retry (with jitter), capped at 5 s.
        tls, root_certificates: TLS (system roots unless given).
        token: sent as `authorization: Bearer <token>`.
        channel: an existing channel (the other connection options are ignored).
    """

    def __init__(self, target: str = "localhost:8500", *, timeout_s: float = 10.0,
                 retries: int = 3, backoff_s: float = 0.1, tls: bool = False,
                 root_certificates: bytes | None = None, token: str | None = None,
                 channel: grpc.Channel | None = None):
        self.channel = channel or make_channel(target, tls=tls,
                                               root_certificates=root_certificates)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._methods = {"Predict": _registered_predict(self.channel) or self.stub.Predict}
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None

    def call(self, method: str, request):
        """Calls a stub method with the deadline and the UNAVAILABLE retries.

        Raises:
            grpc.RpcError: the last error (any code but UNAVAILABLE at once).
        """
        wait = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                return (self._methods.get(method) or getattr(self.stub, method))(
                    request, timeout=self.timeout_s, metadata=self.metadata)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise
                time.sleep(wait * (0.5 + random.random()))
                wait = min(wait * 2, 5.0)
        raise AssertionError("unreachable")

    def predict_request(self, model: str, inputs: dict, *, signature_name: str = "",
                        version: int | None = None, output_filter=()):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature_name
        if version is not None:
            request.model_spec.version.value = version
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        return request

    def predict(self, model: str, inputs: dict, **kwargs) -> dict[str, np.ndarray]:
        """Predict; outputs as numpy (strings as `bytes` object arrays)."""
        response = self.call("Predict", self.predict_request(model, inputs, **kwargs))
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
