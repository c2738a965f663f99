"""`PredictClient`: Predict on `PredictionServiceStub` with deadlines, retries, TLS, token.

Retries are gRPC's own (a service config on the channel), and only of
UNAVAILABLE: the server is restarting or not yet listening, so the request
did not run. Other codes are answers, and retrying a DEADLINE_EXCEEDED would
double the load on a server already too slow.
"""

from __future__ import annotations

import json

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

SERVICE = "tensorflow.serving.PredictionService"
# gRPC caps a retry policy's attempts at 5 (the first call and 4 retries).
MAX_ATTEMPTS = 5


def service_config(retries: int = 3, backoff_s: float = 0.1, max_backoff_s: float = 5.0) -> str:
    """The channel's gRPC service config (JSON).

    `round_robin`: a `dns:///` target naming a headless Kubernetes Service
    resolves to every pod and calls are spread over all of them (gRPC's
    default, pick_first, sends everything to one); with one address it is
    the same. The retry policy repeats UNAVAILABLE only, waiting a random
    time up to `backoff_s`, doubled each retry up to `max_backoff_s`.

    Args:
        retries: extra attempts after UNAVAILABLE (0: none; at most 4).
        backoff_s: the first retry's longest wait.
        max_backoff_s: the longest wait.

    Returns:
        The service config as JSON text.
    """
    config: dict = {"loadBalancingConfig": [{"round_robin": {}}]}
    if retries > 0:
        config["methodConfig"] = [{"name": [{"service": SERVICE}], "retryPolicy": {
            "maxAttempts": min(retries + 1, MAX_ATTEMPTS), "initialBackoff": f"{backoff_s}s",
            "maxBackoff": f"{max(max_backoff_s, backoff_s)}s", "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"]}}]
    return json.dumps(config)


def make_channel(target: str, *, tls: bool = False, root_certificates: bytes | None = None,
                 max_message_bytes: int = 64 * 1024 * 1024, retries: int = 3,
                 backoff_s: float = 0.1) -> grpc.Channel:
    """A channel to `target` with the UNAVAILABLE retry policy (`service_config`).

    Args:
        target: `HOST:PORT` (or any gRPC target: `dns:///`, `ipv4:a,b`).
        tls: use TLS (system roots unless `root_certificates` are given).
        root_certificates: PEM roots for TLS.
        max_message_bytes: send and receive limit.
        retries / backoff_s: see `service_config`.

    Returns:
        A `grpc.Channel`.
    """
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.enable_retries", 1 if retries > 0 else 0),
               ("grpc.service_config", service_config(retries, backoff_s))]
    if tls or root_certificates:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.secure_channel(target, credentials, options=options)
    return grpc.insecure_channel(target, options=options)


def _registered_predict(channel: grpc.Channel):
    """`Predict` as a registered method (core skips the per-call path lookup), or None."""
    try:
        return channel.unary_unary(
            f"/{SERVICE}/Predict",
            request_serializer=predict_pb2.PredictRequest.SerializeToString,
            response_deserializer=predict_pb2.PredictResponse.FromString,
            _registered_method=True)
    except TypeError:  # a channel class without registered methods
        return None


class PredictClient:
    """Predict calls to one TF Serving (or lepton-tf) server.

    Args:
        target: `HOST:PORT`.
        timeout_s: deadline of each call, retries included.
        retries: extra attempts after UNAVAILABLE (at most 4, gRPC's limit).
        backoff_s: the first retry's longest wait; doubles each retry, capped at 5 s.
        tls, root_certificates: TLS (system roots unless given).
        token: sent as `authorization: Bearer <token>`.
        channel: an existing channel (the other connection options are ignored).
    """

    def __init__(self, target: str = "localhost:8500", *, timeout_s: float = 10.0,
                 retries: int = 3, backoff_s: float = 0.1, tls: bool = False,
                 root_certificates: bytes | None = None, token: str | None = None,
                 channel: grpc.Channel | None = None):
        self.channel = channel or make_channel(target, tls=tls,
                                               root_certificates=root_certificates,
                                               retries=retries, backoff_s=backoff_s)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self._methods = {"Predict": _registered_predict(self.channel) or self.stub.Predict}
        self.timeout_s = timeout_s
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None

    def call(self, method: str, request):
        """Calls a stub method with the deadline and the token.

        Raises:
            grpc.RpcError: the server's status (UNAVAILABLE once the retries are spent).
        """
        return (self._methods.get(method) or getattr(self.stub, method))(
            request, timeout=self.timeout_s, metadata=self.metadata)

    def predict_request(self, model: str, inputs: dict, *, signature_name: str = "",
                        version: int | None = None, output_filter=()):
        """The `PredictRequest` of `inputs` (numpy or Python values by input name)."""
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
        """Predict; outputs as numpy (strings as `bytes` object arrays).

        Raises:
            grpc.RpcError: the server's status.
        """
        response = self.call("Predict", self.predict_request(model, inputs, **kwargs))
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
