"""Streaming the assistant's turns: a server-streaming gRPC method and NDJSON over REST.

gRPC (no generated code: a generic handler with `google.protobuf.Struct`
messages, so any gRPC client with the well-known protos can call it):

    method   /lepton.assistant.v1.Assistant/Stream   (unary request, stream of responses)
    request  Struct {"session_id": "...", "message": "...", "time_zone": "Europe/Paris"}
             (time_zone optional: the caller's IANA zone, for "tomorrow at 7"; kept
             for the session)
    response Struct per event, in order:
             {"type": "sources", "route", "intent", "sources": [{n, doc_id, title, snippet, score}]}
             {"type": "delta", "text": "word "}            (the reply, chunk by chunk)
             {"type": "final", "reply", "route", "intent", "cited_by", "citations": [...],
              "related_questions": [...], "timings_ms": {...}, "search_score"}
    errors   INVALID_ARGUMENT (bad input), NOT_FOUND (no `assistant` hosted), ...

REST: `POST /v1/assistant:stream` with the JSON body `{"session_id", "message"}`
answers `application/x-ndjson`, one event per line (chunked transfer
encoding, flushed per event); errors before the first event are
`{"error": ...}` with TF Serving's HTTP status for the code (a body that is
not JSON, too deep or not an object is INVALID_ARGUMENT, as on `:predict`).
"""

from __future__ import annotations

import json
import logging
import threading
import time

import grpc
from google.protobuf import json_format, struct_pb2

from lepton_tf.client.assistant import SERVICE
from lepton_tf.server import deadline
from lepton_tf.server.errors import ServingError, internal, invalid_argument
from lepton_tf.server.grpc_service import lenient, refuse_malformed
from lepton_tf.server.rest_json import parse_route_body

log = logging.getLogger(__name__)
REST_STREAM_PATH = "/v1/assistant:stream"


def _request_fields(doc) -> tuple[str, str, str]:
    if not isinstance(doc, dict):
        raise invalid_argument("The request must be a JSON object with session_id and message.")
    session_id, message = doc.get("session_id"), doc.get("message")
    if not isinstance(session_id, str) or not session_id.strip():
        raise invalid_argument("session_id must be a non-empty string.")
    if not isinstance(message, str):
        raise invalid_argument("message must be a string.")
    time_zone = doc.get("time_zone", "")
    if not isinstance(time_zone, str):
        raise invalid_argument("time_zone must be a string (an IANA zone, e.g. Europe/Paris).")
    return session_id, message, time_zone


def _events(manager, name: str, session_id: str, message: str, time_zone: str = ""):
    """The assistant's events, with errors as `ServingError`s (also the first one)."""
    with manager.servable(name) as servable:
        stream = servable.assistant.stream(session_id, message, time_zone=time_zone)
        while True:
            try:
                event = next(stream)
            except StopIteration:
                return
            except ValueError as e:
                raise invalid_argument(str(e)) from None
            except ServingError:
                raise
            except Exception as e:  # noqa: BLE001 - a bug is INTERNAL, the server goes on
                log.exception("assistant stream failed")
                raise internal(f"{type(e).__name__}: {e}") from None
            yield event


def grpc_stream_handler(server, name: str = "assistant") -> grpc.GenericRpcHandler:
    """The `Stream` method over the assistant servable `name` of `server`."""

    def stream(request: struct_pb2.Struct, context):
        remaining = context.time_remaining()
        cancelled = threading.Event()  # the client cancelled or the call ended
        context.add_callback(cancelled.set)
        at = None if remaining is None else time.monotonic() + remaining
        try:
            with deadline.until(at, cancelled):
                session_id, message, zone = _request_fields(json_format.MessageToDict(request))
                for event in _events(server.manager, name, session_id, message, zone):
                    if not context.is_active():
                        return
                    out = struct_pb2.Struct()
                    out.update(event)
                    yield out
        except ServingError as e:
            context.abort(e.code, e.message)

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Stream": grpc.unary_stream_rpc_method_handler(
            refuse_malformed(stream), request_deserializer=lenient(struct_pb2.Struct.FromString),
            response_serializer=struct_pb2.Struct.SerializeToString)})


def rest_stream_route(server, name: str = "assistant"):
    """`add_rest_route("POST", REST_STREAM_PATH, ...)` handler: NDJSON events.

    The handler answers through the REST transport's `ThreadReply` (chunked
    on HTTP/1.1, close-delimited on HTTP/1.0, one flush per event).
    """
    def handle(reply, body: bytes) -> None:
        try:
            session_id, message, zone = _request_fields(parse_route_body(body))
            for event in _events(server.manager, name, session_id, message, zone):
                if not reply.streaming:
                    reply.start_stream(200, "application/x-ndjson; charset=utf-8",
                                       {"Cache-Control": "no-cache"})
                reply.write((json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8"))
        except ServingError as e:
            if reply.streaming:  # headers gone: report in the stream, then end it
                reply.write((json.dumps({"type": "error", "error": e.message}) + "\n").encode())
            else:
                reply.send_json(e.http_status, {"error": e.message})
    return handle
