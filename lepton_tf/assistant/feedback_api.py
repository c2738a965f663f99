"""Rating a turn and deleting a session: REST routes and gRPC methods.

REST (the bearer token applies, as on every model route):

    POST /v1/assistant:feedback  {"session_id", "turn_id", "rating": "up"|"down", "comment"}
                                 -> 200 {"status": "recorded"}
    POST /v1/assistant:forget    {"session_id"} -> 200 {"deleted_rows": N}

gRPC, beside `Stream` on `lepton.assistant.v1.Assistant` (Struct in, Struct out):
`Feedback` and `Forget` with the same fields.

Errors: a bad field is INVALID_ARGUMENT (400); an unknown session or turn is
NOT_FOUND (404); an assistant started without a store is FAILED_PRECONDITION;
a database that fails is UNAVAILABLE (503), and the client may retry.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import json_format, struct_pb2

from lepton_tf.client.assistant import SERVICE
from lepton_tf.server.errors import (ServingError, failed_precondition, internal,
                                     invalid_argument, not_found, unavailable)
from lepton_tf.server.grpc_service import lenient, refuse_malformed
from lepton_tf.server.rest_json import parse_route_body
from lepton_tf.store.errors import StoreError, UnknownTurnError

log = logging.getLogger(__name__)
REST_FEEDBACK_PATH = "/v1/assistant:feedback"
REST_FORGET_PATH = "/v1/assistant:forget"


def _string(doc: dict, key: str, required: bool = True) -> str:
    value = doc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid_argument(f"{key} must be a non-empty string.")
    return value


def _call(manager, name: str, action: str, doc) -> dict:
    """Runs `action` (feedback | forget) on the hosted assistant; errors as ServingErrors."""
    if not isinstance(doc, dict):
        raise invalid_argument("The request must be a JSON object.")
    session_id = _string(doc, "session_id")
    with manager.servable(name) as servable:
        assistant = servable.assistant
        try:
            if action == "feedback":
                assistant.feedback(session_id, _string(doc, "turn_id"),
                                   doc.get("rating"), _string(doc, "comment", False))
                return {"status": "recorded"}
            return {"deleted_rows": assistant.forget(session_id)}
        except ValueError as e:
            raise invalid_argument(str(e)) from None
        except UnknownTurnError as e:
            raise not_found(str(e)) from None
        except StoreError as e:
            if getattr(assistant.sessions, "store", None) is None:
                raise failed_precondition(str(e)) from None
            log.warning("conversation store: %s failed: %s", action, e)
            raise unavailable(f"The conversation store failed: {str(e)[:200]}") from None
        except ServingError:
            raise
        except Exception as e:  # noqa: BLE001 - the database's own errors: retryable
            log.warning("conversation store: %s failed: %s", action, str(e)[:300])
            if type(e).__module__.startswith(("sqlalchemy", "psycopg", "sqlite3")):
                raise unavailable(f"The conversation store failed: "
                                  f"{str(e).splitlines()[0][:200]}") from None
            raise internal(f"{type(e).__name__}: {e}") from None


def rest_route(server, action: str, name: str = "assistant"):
    """An `add_rest_route` handler for `feedback` or `forget`."""
    def handle(reply, body: bytes) -> None:
        try:
            reply.send_json(200, _call(server.manager, name, action, parse_route_body(body)))
        except ServingError as e:
            reply.send_json(e.http_status, {"error": e.message})
    return handle


def grpc_handler(server, name: str = "assistant") -> grpc.GenericRpcHandler:
    """The `Feedback` and `Forget` methods over the assistant servable `name`."""
    def method(action: str):
        def call(request: struct_pb2.Struct, context):
            try:
                answer = _call(server.manager, name, action, json_format.MessageToDict(request))
            except ServingError as e:
                context.abort(e.code, e.message)
            out = struct_pb2.Struct()
            out.update(answer)
            return out
        return grpc.unary_unary_rpc_method_handler(
            refuse_malformed(call), request_deserializer=lenient(struct_pb2.Struct.FromString),
            response_serializer=struct_pb2.Struct.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE, {"Feedback": method("feedback"),
                                                          "Forget": method("forget")})


def mount(server, name: str = "assistant") -> None:
    """Adds the REST routes and gRPC methods to `server` (before it starts)."""
    server.add_generic_rpc_handlers([grpc_handler(server, name)])
    server.add_rest_route("POST", REST_FEEDBACK_PATH, rest_route(server, "feedback", name))
    server.add_rest_route("POST", REST_FORGET_PATH, rest_route(server, "forget", name))
