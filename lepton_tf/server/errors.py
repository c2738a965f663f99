"""Errors with TF Serving's status codes, shared by the gRPC and REST fronts.

Every failure a request can meet is raised as a `ServingError` carrying the
canonical code TF Serving would give; the gRPC front aborts with that code
and the REST front maps it to TF Serving's HTTP status.
"""

from __future__ import annotations

import grpc

# TF Serving's ToHTTPStatusCode (tensorflow_serving/model_servers/http_server.cc).
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


MAX_MESSAGE_CHARS = 1024  # gRPC status details travel in a header (8 KiB by default)


def one_line(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message` on one line (whitespace runs collapsed), cut to about `limit` characters.

    A client-supplied name of any length may end up in a message; gRPC carries
    the text in a header, and a header past the channel's limit would turn
    the status into RESOURCE_EXHAUSTED.
    """
    text = " ".join(str(message).split())
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


class ServingError(Exception):
    """A request failure with its canonical status code.

    Attributes:
        code: a `grpc.StatusCode`.
        message: the text clients see (TF Serving's wording where it has one),
            on one line and at most about `MAX_MESSAGE_CHARS` long.
    """

    def __init__(self, code: grpc.StatusCode, message: str, http_status: int | None = None):
        message = one_line(message)
        super().__init__(message)
        self.code = code
        self.message = message
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        """TF Serving's HTTP status for the code, unless the error was given its own."""
        return self._http_status or HTTP_STATUS.get(self.code, 500)

    @property
    def code_name(self) -> str:
        """The `tensorflow.error.Code` name, as `StatusProto.error_code` spells it."""
        return self.code.name


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def limit_exceeded(message: str) -> ServingError:
    """A request past a size limit (`--max_batch_size`, `--max_tensor_bytes`):
    INVALID_ARGUMENT over gRPC, and over REST 413 Payload Too Large rather than
    TF Serving's 400 for INVALID_ARGUMENT, so a client (or a proxy) can tell
    "send less" from "send something else". TF Serving itself has no such
    limits (`ToHTTPStatusCode` maps codes only); its other 400s are kept."""
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message, http_status=413)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unavailable(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def internal(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INTERNAL, message)


def deadline_exceeded(message: str = "Deadline Exceeded") -> ServingError:
    return ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def stops_work(error: ServingError) -> bool:
    """True for DEADLINE_EXCEEDED and CANCELLED: nobody waits for the work any more,
    so a caller that falls back on other errors must not fall back on these."""
    return error.code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
