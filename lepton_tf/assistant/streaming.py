"""Streaming the assistant's turns: a server-streaming gRPC method and NDJSON over REST.

gRPC (no generated code: a generic handler with `google.protobuf.Struct`
messages, so any gRPC client with the well-known protos can call it):

    method   /lepton.assistant.v1.Assistant/Stream   (unary request, stream of responses)
    request  Struct {"session_id": "...", "message": "..."}
    response Struct per event, in order:
             {"type": "sources", "route", "intent", "sources": [{n, doc_id, title, snippet, score}]}
             {"type": "delta", "text": "word "}            (the reply, chunk by chunk)
             {"type": "final", "reply", "route", "intent", "cited_by", "citations": [...],
              "related_questions": [...], "timings_ms": {...}, "search_score"}
    errors   INVALID_ARGUMENT (bad input), NOT_FOUND (no `assistant` hosted), ...

REST: `POST /v1/assistant:stream` with the JSON body `{"session_id", "message"}`
answers `application/x-ndjson`, one event per line (chunked transfer
encoding, flushed per event); errors before the first event are
`{"error": ...}` with TF Serving's HTTP status for the code.
"""

from __future__ import annotations

import json
import logging

import grpc
from google.protobuf import json_format, struct_pb2

from lepton_tf.client.assistant import SERVICE
from lepton_tf.server.errors import ServingError, internal, invalid_argument

log = logging.getLogger(__name__)
REST_STREAM_PATH = "/v1/assistant:stream"


def _request_fields(doc) -> tuple[str, str]:
    if not isinstance(doc, dict):
        raise invalid_argument("The request must be a JSON object with session_id and message.")
    session_id, message = doc.get("session_id"), doc.get("message")
    if not isinstance(session_id, str) or not session_id.strip():
        raise invalid_argument("session_id must be a non-empty string.")
    if not isinstance(message, str):
        raise invalid_argument("message must be a string.")
    return session_id, message


def _events(manager, name: str, session_id: str, message: str):
    """The assistant's events, with errors as `ServingError`s (also the first one)."""
    with manager.servable(name) as servable:
        stream = servable.assistant.stream(session_id, message)
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
        try:
            session_id, message = _request_fields(json_format.MessageToDict(request))
            for event in _events(server.manager, name, session_id, message):
                if not context.is_active():
                    return
                out = struct_pb2.Struct()
                out.update(event)
                yield out
        except ServingError as e:
            context.abort(e.code, e.message)

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Stream": grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=struct_pb2.Struct.FromString,
            response_serializer=struct_pb2.Struct.SerializeToString)})


def rest_stream_route(server, name: str = "assistant"):
    """`add_rest_route("POST", REST_STREAM_PATH, ...)` handler: NDJSON events."""

    def handle(http, body: bytes) -> None:
        started = False
        try:
            try:
                doc = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise invalid_argument(f"Malformed JSON body: {e}") from None
            session_id, message = _request_fields(doc)
            for event in _events(server.manager, name, session_id, message):
                if not started:
                    http.send_response(200)
                    http.send_header("Content-Type", "application/x-ndjson; charset=utf-8")
                    http.send_header("Cache-Control", "no-cache")
                    http.send_header("Transfer-Encoding", "chunked")
                    http.end_headers()
                    started = True
                line = (json.dumps(event, ensure_ascii=False) + "\n").encode("utf-8")
                http.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                http.wfile.flush()
            http.wfile.write(b"0\r\n\r\n")
            http.wfile.flush()
        except ServingError as e:
            if started:  # headers gone: report in the stream, then end it
                line = (json.dumps({"type": "error", "error": e.message}) + "\n").encode()
                http.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(line), line))
            else:
                http._send_json(e.http_status, {"error": e.message})
        except (BrokenPipeError, ConnectionResetError):
            http.close_connection = True  # the client went away mid-stream
    return handle
