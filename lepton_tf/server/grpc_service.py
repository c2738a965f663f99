"""gRPC `PredictionService` and `ModelService` on the stock TF Serving servicers."""

from __future__ import annotations

import logging
import threading
import time

import grpc
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)

from lepton_tf.server import audit, deadline, identity, inference, metadata
from lepton_tf.server.errors import ServingError, deadline_exceeded, internal, invalid_argument

log = logging.getLogger(__name__)


def version_choice(spec) -> tuple[int | None, str | None]:
    """`(version, label)` of a `ModelSpec` (both None: the latest)."""
    choice = spec.WhichOneof("version_choice")
    if choice == "version":
        return spec.version.value, None
    if choice == "version_label":
        return None, spec.version_label
    return None, None


class _Handler:
    """Looks up the servable, runs the API, maps errors and records metrics."""

    def __init__(self, core):
        self.core = core

    def call(self, api: str, request, context, run):
        start, version, code = time.monotonic(), None, grpc.StatusCode.OK
        try:
            remaining = context.time_remaining()
            if remaining is not None and remaining <= 0:
                raise deadline_exceeded()
            cancelled = threading.Event()  # set when the call ends, e.g. the client cancels
            context.add_callback(cancelled.set)
            number, label = version_choice(request.model_spec)
            with deadline.until(None if remaining is None else start + remaining, cancelled), \
                    self.core.manager.servable(request.model_spec.name, number,
                                               label) as servable:
                version = servable.version
                return run(servable, request)
        except ServingError as e:
            code = e.code
            context.abort(e.code, e.message)
        except Exception as e:  # noqa: BLE001 - never let a request kill the server
            log.exception("%s failed", api)
            code = grpc.StatusCode.INTERNAL
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
        finally:
            self.core.metrics.observe(request.model_spec.name, version, api, "GRPC",
                                      code.name, time.monotonic() - start)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """`tensorflow.serving.PredictionService` over the server's models."""

    def __init__(self, core):
        self._handler = _Handler(core)
        # TF Serving's --enable_signature_method_name_check (off by default).
        self._check = bool(getattr(core.options, "enable_signature_method_name_check", False))

    def Predict(self, request, context):
        return self._handler.call("Predict", request, context,
                                  lambda s, r: inference.predict(s, r, self._check))

    def Classify(self, request, context):
        return self._handler.call("Classify", request, context,
                                  lambda s, r: inference.classify(s, r, self._check))

    def Regress(self, request, context):
        return self._handler.call("Regress", request, context,
                                  lambda s, r: inference.regress(s, r, self._check))

    def MultiInference(self, request, context):
        if not request.tasks:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "MultiInferenceRequest has no tasks.")
        return self._handler.call(
            "MultiInference", _MultiAdapter(request), context,
            lambda s, r: inference.multi_inference(s, r.request, self._check))

    def GetModelMetadata(self, request, context):
        return self._handler.call(
            "GetModelMetadata", request, context,
            lambda s, r: metadata.metadata_response(s, r.metadata_field))


class _MultiAdapter:
    """Gives a MultiInferenceRequest the `model_spec` of its first task for lookup."""

    def __init__(self, request):
        self.request = request
        self.model_spec = request.tasks[0].model_spec


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """`tensorflow.serving.ModelService`: status and config reload."""

    def __init__(self, core):
        self.core = core

    def GetModelStatus(self, request, context):
        try:
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            version, _ = version_choice(request.model_spec)
            rows = self.core.manager.status(request.model_spec.name, version)
            return metadata.status_response(rows)
        except ServingError as e:
            context.abort(e.code, e.message)
        except Exception as e:  # noqa: BLE001 - never UNKNOWN from a stack trace
            log.exception("GetModelStatus failed")
            error = internal(f"{type(e).__name__}: {e}")
            context.abort(error.code, error.message)

    def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.core.reload_config(request.config)
        except ServingError as e:
            context.abort(e.code, e.message)
        except Exception as e:  # noqa: BLE001
            log.exception("config reload failed")
            error = internal(f"{type(e).__name__}: {e}")
            context.abort(error.code, error.message)
        response.status.error_code = 0
        return response


_METHODS = {
    "tensorflow.serving.PredictionService": {
        "Predict": (predict_pb2.PredictRequest, predict_pb2.PredictResponse),
        "Classify": (classification_pb2.ClassificationRequest,
                     classification_pb2.ClassificationResponse),
        "Regress": (regression_pb2.RegressionRequest, regression_pb2.RegressionResponse),
        "MultiInference": (inference_pb2.MultiInferenceRequest,
                           inference_pb2.MultiInferenceResponse),
        "GetModelMetadata": (get_model_metadata_pb2.GetModelMetadataRequest,
                             get_model_metadata_pb2.GetModelMetadataResponse)},
    "tensorflow.serving.ModelService": {
        "GetModelStatus": (get_model_status_pb2.GetModelStatusRequest,
                           get_model_status_pb2.GetModelStatusResponse),
        "HandleReloadConfigRequest": (model_management_pb2.ReloadConfigRequest,
                                      model_management_pb2.ReloadConfigResponse)},
}


class MalformedRequest:
    """What `lenient` hands a method for bytes that are not its request message."""

    def __init__(self, error: Exception):
        self.error = error


def lenient(parse):
    """A request deserializer that never raises (gRPC would answer INTERNAL
    "Exception deserializing request!" for a client's bad bytes)."""
    def deserialize(data: bytes):
        try:
            return parse(data)
        except Exception as e:  # noqa: BLE001 - DecodeError, invalid UTF-8, recursion
            return MalformedRequest(e)
    return deserialize


def refuse_malformed(method):
    """Wraps a servicer method: a `MalformedRequest` is INVALID_ARGUMENT."""
    def call(request, context):
        if isinstance(request, MalformedRequest):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"Could not parse the request message: {request.error}"[:300])
        return method(request, context)
    return call


def add_services(server: grpc.Server, core) -> None:
    """TF Serving's two services on `server`, as registered methods.

    The `tensorflow-serving-api` stubs predate registered methods: their
    generic handler is looked up in Python per call and core matches the
    path as an unregistered call. Registering the methods lets core route
    the call to its method directly (the generic handlers stay for any
    path the registered ones do not cover).
    """
    servicers = {"tensorflow.serving.PredictionService": PredictionService(core),
                 "tensorflow.serving.ModelService": ModelService(core)}
    for service, methods in _METHODS.items():
        handlers = {name: grpc.unary_unary_rpc_method_handler(
            refuse_malformed(getattr(servicers[service], name)),
            request_deserializer=lenient(request.FromString),
            response_serializer=response.SerializeToString)
            for name, (request, response) in methods.items()}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
        if hasattr(server, "add_registered_method_handlers"):  # grpcio >= 1.63
            server.add_registered_method_handlers(service, handlers)


def _as(principal, sink, behavior, streaming: bool):
    """`behavior` run as `principal`, auditing to `sink` (a streaming response:
    while it is iterated)."""
    if behavior is None:
        return None
    if streaming:
        def stream(request, context):
            with identity.acting_as(principal), audit.scope(sink):
                yield from behavior(request, context)
        return stream

    def unary(request, context):
        with identity.acting_as(principal), audit.scope(sink):
            return behavior(request, context)
    return unary


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates every call and runs it as its principal (`identity`).

    A server interceptor sees every call, registered methods, ModelService
    (`HandleReloadConfigRequest` too) and added services (the assistant's
    stream) alike. A call without a valid `authorization: Bearer <token>` is
    refused UNAUTHENTICATED, shaped like the method (unary or streaming); an
    accepted one runs as the token's principal (the interceptor runs on the
    server's polling thread, so the method's behaviours are wrapped to set it
    on the thread that runs them).

    Args:
        authenticators: an `authenticators.Authenticators` (none configured:
            every call runs as the unrestricted server principal).
    """

    def __init__(self, authenticators, audit_sink=None):
        self.authenticators, self.audit_sink = authenticators, audit_sink

        def deny(request, context):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "Missing or invalid bearer token.")

        def deny_stream(request, context):
            deny(request, context)
            yield  # pragma: no cover - abort raised
        self._deny = {(False, False): grpc.unary_unary_rpc_method_handler(deny),
                      (False, True): grpc.unary_stream_rpc_method_handler(deny_stream),
                      (True, False): grpc.stream_unary_rpc_method_handler(deny),
                      (True, True): grpc.stream_stream_rpc_method_handler(deny_stream)}

    def intercept_service(self, continuation, details):
        values = [v for k, v in details.invocation_metadata or () if k == "authorization"]
        principal = self.authenticators.principal(values[0] if len(values) == 1 else None)
        handler = continuation(details)
        if principal is None:
            shape = (False, False) if handler is None else (handler.request_streaming,
                                                            handler.response_streaming)
            return self._deny[shape]
        if handler is None:
            return None
        sink = self.audit_sink
        return handler._replace(
            unary_unary=_as(principal, sink, handler.unary_unary, False),
            unary_stream=_as(principal, sink, handler.unary_stream, True),
            stream_unary=_as(principal, sink, handler.stream_unary, False),
            stream_stream=_as(principal, sink, handler.stream_stream, True))
