"""Calls from this server to another TF Serving (the `--tf-serving` upstream).

The front `search` servable of the production deployment embeds queries on a
remote TF Serving. The server speaks the protos itself rather than importing
`lepton_tf.client` (layers point one way: the client sits above the server).
Retries of UNAVAILABLE use gRPC's own retry policy (a service config on the
channel), not a hand-written loop.
"""

from __future__ import annotations

import json

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

# gRPC's built-in retry policy: UNAVAILABLE means the request did not run
# (the upstream is restarting), so it is safe to repeat; nothing else is.
# round_robin: a `dns:///` target naming a headless Kubernetes Service resolves
# to every pod, and calls are spread over all of them (pick_first, gRPC's
# default, would send everything to one); with one address it is the same.
_SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [{
    "name": [{"service": "tensorflow.serving.PredictionService"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "5s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def upstream_channel(target: str, *, tls: bool = False,
                     root_certificates: bytes | None = None,
                     max_message_bytes: int = 64 * 1024 * 1024) -> grpc.Channel:
    """A channel to `target` (HOST:PORT) with the UNAVAILABLE retry policy.

    Args:
        target: the upstream's gRPC address.
        tls: use TLS (system roots unless `root_certificates` are given).
        root_certificates: PEM roots for TLS.
        max_message_bytes: send and receive limit.

    Returns:
        A `grpc.Channel`.
    """
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes),
               ("grpc.enable_retries", 1), ("grpc.service_config", _SERVICE_CONFIG)]
    if tls or root_certificates:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.secure_channel(target, credentials, options=options)
    return grpc.insecure_channel(target, options=options)


class UpstreamPredict:
    """Predict on a remote TF Serving, numpy in and out.

    Args:
        target: `HOST:PORT`.
        timeout_s: deadline of each call.
        token: sent as `authorization: Bearer <token>`.
        tls, root_certificates: see `upstream_channel`.
    """

    def __init__(self, target: str, *, timeout_s: float = 10.0, token: str | None = None,
                 tls: bool = False, root_certificates: bytes | None = None):
        self.channel = upstream_channel(target, tls=tls, root_certificates=root_certificates)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.timeout_s = timeout_s
        self.metadata = (("authorization", f"Bearer {token}"),) if token else None

    def predict(self, model: str, inputs: dict, *, signature_name: str = "",
                output_filter=()) -> dict[str, np.ndarray]:
        """Predict; outputs as numpy arrays (strings as `bytes` objects).

        Raises:
            grpc.RpcError: the upstream's status.
        """
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature_name
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self.stub.Predict(request, timeout=self.timeout_s, metadata=self.metadata)
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
