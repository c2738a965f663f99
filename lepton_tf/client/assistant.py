"""`AssistantClient`: the assistant over gRPC (Predict, or the streaming method)."""

from __future__ import annotations

import json

import numpy as np
from google.protobuf import json_format, struct_pb2

import grpc

from lepton_tf.client.base import PredictClient

# The wire contract of the `assistant` servable, owned here so that the
# server side (lepton_tf.assistant) imports it and the client needs nothing
# above the protos.
SERVICE = "lepton.assistant.v1.Assistant"
STREAM_METHOD = f"/{SERVICE}/Stream"
FEEDBACK_METHOD = f"/{SERVICE}/Feedback"
FORGET_METHOD = f"/{SERVICE}/Forget"
TIMING_KEYS = ("intent", "dialogue", "search", "chat", "total")

_LISTS = ("citation_ids", "citation_titles", "citation_snippets", "citation_numbers",
          "citation_scores", "related_questions")


def stream_call(channel: grpc.Channel):
    """A client callable: `call(Struct request, timeout=..., metadata=...)` -> iterator."""
    return channel.unary_stream(STREAM_METHOD,
                                request_serializer=struct_pb2.Struct.SerializeToString,
                                response_deserializer=struct_pb2.Struct.FromString)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class AssistantClient(PredictClient):
    """Turns of one conversation with the `assistant` servable.

    Args:
        session_id: the conversation's id (the server keeps its state).
        model: the model name (default `assistant`).
        time_zone: the caller's IANA zone, sent with streamed turns so "tomorrow at 7"
            is resolved where the caller is ("": the server's).
        **kwargs: `PredictClient` options (timeout_s, tls, token, ...).
    """

    def __init__(self, target: str = "localhost:8500", session_id: str = "default", *,
                 model: str = "assistant", time_zone: str = "", **kwargs):
        super().__init__(target, **kwargs)
        self.session_id, self.model, self.time_zone = session_id, model, time_zone
        self._stream = stream_call(self.channel)
        self._unary = {m: self.channel.unary_unary(
            m, request_serializer=struct_pb2.Struct.SerializeToString,
            response_deserializer=struct_pb2.Struct.FromString)
            for m in (FEEDBACK_METHOD, FORGET_METHOD)}

    def ask(self, message: str) -> dict:
        """One turn by Predict: reply, route, intent, citations, related questions."""
        out = self.predict(self.model, {"session_id": np.array([self.session_id.encode()],
                                                               object),
                                        "message": np.array([message.encode("utf-8")], object)})
        answer = {k: _text(np.asarray(out[k]).reshape(-1)[0])
                  for k in ("reply", "route", "intent", "cited_by") if k in out}
        if "turn_id" in out:
            answer["turn_id"] = _text(np.asarray(out["turn_id"]).reshape(-1)[0])
        lists = {k: [_text(v) if isinstance(v, bytes) else v.item()
                     for v in np.asarray(out[k]).reshape(-1)] for k in _LISTS}
        answer["citations"] = [
            {"n": n, "doc_id": i, "title": t, "snippet": s, "score": sc}
            for n, i, t, s, sc in zip(lists["citation_numbers"], lists["citation_ids"],
                                      lists["citation_titles"], lists["citation_snippets"],
                                      lists["citation_scores"])]
        answer["related_questions"] = lists["related_questions"]
        answer["not_found"] = bool(np.asarray(out["not_found"]).reshape(-1)[0]) \
            if "not_found" in out else False
        answer["handoff"] = bool(np.asarray(out["handoff"]).reshape(-1)[0]) \
            if "handoff" in out else False
        answer["task"] = json.loads(_text(np.asarray(out["task"]).reshape(-1)[0])) \
            if "task" in out else {}
        answer["timings_ms"] = dict(zip(TIMING_KEYS,
                                        np.asarray(out["timings_ms"]).reshape(-1).tolist()))
        return answer

    def stream(self, message: str):
        """Yields the turn's events (dicts): `sources`, `delta`s, `final`."""
        request = struct_pb2.Struct()
        request.update({"session_id": self.session_id, "message": message,
                        **({"time_zone": self.time_zone} if self.time_zone else {})})
        for event in self._stream(request, timeout=self.timeout_s, metadata=self.metadata):
            yield json_format.MessageToDict(event)

    def _call(self, method: str, fields: dict) -> dict:
        request = struct_pb2.Struct()
        request.update({"session_id": self.session_id, **fields})
        return json_format.MessageToDict(self._unary[method](
            request, timeout=self.timeout_s, metadata=self.metadata))

    def feedback(self, turn_id: str, rating: str, comment: str = "") -> dict:
        """Rates one turn of this conversation `up` or `down` (NOT_FOUND: no such turn)."""
        return self._call(FEEDBACK_METHOD, {"turn_id": turn_id, "rating": rating,
                                            "comment": comment})

    def forget(self) -> dict:
        """Deletes everything the server stored of this conversation."""
        return self._call(FORGET_METHOD, {})
