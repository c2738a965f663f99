"""Bounded work per request: batch rows and tensor bytes, checked before anything is built.

TF Serving bounds a batch only when batching is on (`max_batch_size`, and
`max_execution_batch_size` with large-batch splitting); a request that states
a shape with one typed value is broadcast by `tensor_util.MakeNdarray` to the
full shape. Here every model has `Limits`:

- `max_batch_size`: rows (dimension 0) a request may carry (`--max_batch_size`);
- `max_tensor_bytes`: the size a request's inputs expand to, elements x dtype
  size (strings: 8 bytes + their length), computed from the `TensorProto`
  header before a byte is allocated (`--max_tensor_bytes`);
- `max_execution_batch_size`: larger requests run in slices of this many rows
  with the deadline checked between slices, so a cancelled or expired request
  stops within one slice (0: no row limit); under a deadline slices are also
  cut to about 0.25 s of work (`slicing`);
- `deadline_margin_ms`: a slice may be expected to end this long past the
  request's deadline and still start (`--deadline_margin_ms`, default 0: work
  expected to end after the deadline is refused, DEADLINE_EXCEEDED at once).

Per-model values come from `--request_limits_file`, a JSON (or YAML) file
`{"models": {"chat": {"max_batch_size": 32, "max_execution_batch_size": 8}}}`
with an optional `"default"` block. Refusals are INVALID_ARGUMENT naming the
limit; over REST they are 413 (`errors.limit_exceeded`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tensorflow.core.framework import types_pb2

from lepton_tf.server import slicing
from lepton_tf.server.errors import invalid_argument, limit_exceeded

MAX_RANK = 64  # numpy's limit, and far past any model's input rank

# Request dtypes a TensorProto may carry, with their element size in bytes
# (strings: the pointer; their bytes are added). Quantized, resource and
# variant tensors are refused: no signature takes them from a client.
_ITEM_BYTES = {
    types_pb2.DT_FLOAT: 4, types_pb2.DT_DOUBLE: 8, types_pb2.DT_HALF: 2,
    types_pb2.DT_BFLOAT16: 2, types_pb2.DT_INT8: 1, types_pb2.DT_INT16: 2,
    types_pb2.DT_INT32: 4, types_pb2.DT_INT64: 8, types_pb2.DT_UINT8: 1,
    types_pb2.DT_UINT16: 2, types_pb2.DT_UINT32: 4, types_pb2.DT_UINT64: 8,
    types_pb2.DT_BOOL: 1, types_pb2.DT_COMPLEX64: 8, types_pb2.DT_COMPLEX128: 16,
    types_pb2.DT_STRING: 8,
}


@dataclasses.dataclass(frozen=True)
class Limits:
    """One model's request bounds (see the module docstring)."""

    max_batch_size: int = 8192
    max_tensor_bytes: int = 256 * 1024 * 1024
    max_execution_batch_size: int = 0
    deadline_margin_ms: int = 0


class RequestLimits:
    """Limits per model name, with a default.

    Args:
        default: for models without their own entry.
        models: name -> `Limits`.
    """

    def __init__(self, default: Limits | None = None, models: dict | None = None):
        self.default = default or Limits()
        self.models = dict(models or {})

    def for_model(self, name: str) -> Limits:
        return self.models.get(name, self.default)

    @classmethod
    def load(cls, path: str | None, default: Limits | None = None) -> RequestLimits:
        """Reads `--request_limits_file` (None: only `default`).

        Raises:
            ValueError: unknown keys or values that are not non-negative integers.
        """
        default = default or Limits()
        if not path:
            return cls(default)
        import yaml  # JSON is YAML; one reader for both
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        if not isinstance(doc, dict) or set(doc) - {"default", "models"}:
            raise ValueError(f"{path}: expected keys 'default' and 'models'")
        default = _limits(doc.get("default") or {}, default, path)
        models = {str(name): _limits(block or {}, default, path)
                  for name, block in (doc.get("models") or {}).items()}
        return cls(default, models)


def _limits(block: dict, base: Limits, path: str) -> Limits:
    fields = {f.name for f in dataclasses.fields(Limits)}
    if not isinstance(block, dict) or set(block) - fields:
        raise ValueError(f"{path}: limit keys are {sorted(fields)}, got {block!r}")
    for key, value in block.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{path}: {key} must be a non-negative integer, got {value!r}")
    return dataclasses.replace(base, **block)


def attach(servable, limits: Limits):
    """Gives `servable` its limits (read back by `of`); returns it."""
    servable.request_limits = limits
    return servable


def of(servable) -> Limits:
    return getattr(servable, "request_limits", None) or Limits()


def _too_many_rows(rows: int, alias: str, servable, limits: Limits, prefix: str = ""):
    return limit_exceeded(
        f"{prefix}Input '{alias}' has {rows} rows, more than the maximum batch size of "
        f"{limits.max_batch_size} for model {servable.name} (max_batch_size).")


def _too_large(size: int, servable, limits: Limits, prefix: str = ""):
    return limit_exceeded(
        f"{prefix}Request inputs expand to {size} bytes, more than the maximum of "
        f"{limits.max_tensor_bytes} for model {servable.name} (max_tensor_bytes).")


def check_protos(servable, protos) -> None:
    """Refuses request `TensorProto`s (alias -> proto) past the model's limits,
    from their headers alone (before anything is decoded or broadcast).

    Raises:
        ServingError: INVALID_ARGUMENT naming the dtype, rank, shape or limit.
    """
    limits, total = of(servable), 0
    for alias, proto in protos.items():
        prefix = f"tensor parsing error: {alias}: "
        item = _ITEM_BYTES.get(proto.dtype)
        if item is None:
            kind = types_pb2.DataType.Name(proto.dtype) if proto.dtype in \
                types_pb2.DataType.values() else str(proto.dtype)
            raise invalid_argument(f"tensor parsing error: {alias} ({kind} tensors are not "
                                   "accepted in requests)")
        dims = [d.size for d in proto.tensor_shape.dim]
        if len(dims) > MAX_RANK:
            raise invalid_argument(f"tensor parsing error: {alias} (rank {len(dims)} is more "
                                   f"than the maximum of {MAX_RANK})")
        if any(d < 0 for d in dims):
            raise invalid_argument(f"tensor parsing error: {alias} (negative dimension in "
                                   f"shape {dims[:8]})")
        if dims and limits.max_batch_size and dims[0] > limits.max_batch_size:
            raise _too_many_rows(dims[0], alias, servable, limits, prefix)
        elements = 1
        for d in dims:
            if d > limits.max_tensor_bytes:  # no element count can get past this dimension
                raise _too_large(d, servable, limits, prefix)
            elements *= d
        size = elements * item
        if proto.dtype == types_pb2.DT_STRING and elements:
            given = proto.string_val
            stored = sum(len(s) for s in given)
            size += stored if len(given) >= elements else \
                elements * (stored // max(len(given), 1) + 1)
        total += size
        if total > limits.max_tensor_bytes:
            raise _too_large(total, servable, limits, prefix)


def _nbytes(array: np.ndarray) -> int:
    if array.dtype == object:
        return array.size * 8 + sum(len(x) for x in array.ravel() if isinstance(x, bytes))
    return array.nbytes


def check_arrays(servable, inputs: dict) -> None:
    """Refuses decoded inputs (alias -> array) past the model's rows or bytes.

    Raises:
        ServingError: INVALID_ARGUMENT naming the limit.
    """
    limits = of(servable)
    for alias, array in inputs.items():
        if array.ndim > MAX_RANK:
            raise invalid_argument(f"Input '{alias}' has rank {array.ndim}, more than the "
                                   f"maximum of {MAX_RANK}.")
        if array.ndim and limits.max_batch_size and array.shape[0] > limits.max_batch_size:
            raise _too_many_rows(array.shape[0], alias, servable, limits)
    size = sum(_nbytes(a) for a in inputs.values())
    if size > limits.max_tensor_bytes:
        raise _too_large(size, servable, limits)


def run_bounded(servable, inputs: dict, run, signature: str = "") -> dict:
    """`run(inputs)` within the model's limits, in slices of at most
    `max_execution_batch_size` rows and, under a deadline, of bounded time
    (`slicing.run_in_slices`), the deadline checked before each.

    Args:
        servable: the model (for its limits and name).
        inputs: alias -> array.
        run: `(inputs) -> {alias: array}`, one execution.
        signature: the signature `run` runs (what a row's cost is learned for).

    Raises:
        ServingError: INVALID_ARGUMENT past a limit; DEADLINE_EXCEEDED or
            CANCELLED between slices; INTERNAL if a sliced model's outputs are
            not batch-major.
    """
    check_arrays(servable, inputs)
    bounds = of(servable)
    return slicing.run_in_slices(servable, signature, inputs, run,
                                 bounds.max_execution_batch_size,
                                 bounds.deadline_margin_ms / 1000.0)
