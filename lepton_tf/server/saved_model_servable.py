"""`SavedModelServable`: any SavedModel stock TF Serving serves, TF2 or TF1.

The signatures (and `GetModelMetadata`'s `signature_def`) come from the
MetaGraphDef tagged `serve` in `saved_model.pb`, exactly what TF Serving
reads. Running uses `tf.saved_model.load` (TF2 and most TF1 models); a graph
it cannot restore (legacy init ops, some TF1 tables, Classify/Regress models
built with `tf.compat.v1`) falls back to a TF1 `Session` loaded with
`tf.compat.v1.saved_model.loader`, as TF Serving's own loader does.
"""

from __future__ import annotations

import logging
import os
import time

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from lepton_tf.server import deadline
from lepton_tf.server.errors import ServingError
from lepton_tf.server.servable import Servable, Signature, TensorSpec

try:  # TF Serving links TF Text's ops in; register them before any SavedModel loads.
    import tensorflow_text  # noqa: F401
except ImportError:  # pragma: no cover - tensorflow-text is an install requirement
    tensorflow_text = None

log = logging.getLogger(__name__)

SERVE_TAG = "serve"


def read_meta_graph(path: str, tag: str = SERVE_TAG) -> meta_graph_pb2.MetaGraphDef:
    """The MetaGraphDef of a SavedModel folder carrying `tag`.

    Raises:
        FileNotFoundError: no `saved_model.pb`/`.pbtxt` in `path`.
        ValueError: no MetaGraphDef with that tag.
    """
    proto = saved_model_pb2.SavedModel()
    pb, pbtxt = os.path.join(path, "saved_model.pb"), os.path.join(path, "saved_model.pbtxt")
    if os.path.exists(pb):
        with open(pb, "rb") as f:
            proto.ParseFromString(f.read())
    elif os.path.exists(pbtxt):
        with open(pbtxt, encoding="utf-8") as f:
            text_format.Parse(f.read(), proto)
    else:
        raise FileNotFoundError(f"No saved_model.pb or saved_model.pbtxt in {path}")
    for meta_graph in proto.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    raise ValueError(f"SavedModel {path} has no MetaGraphDef with tag '{tag}'.")


def _spec(alias: str, info) -> TensorSpec:
    dtype = tf.dtypes.as_dtype(info.dtype)
    shape = None if info.tensor_shape.unknown_rank else tuple(
        None if d.size < 0 else d.size for d in info.tensor_shape.dim)
    return TensorSpec(alias, "string" if dtype == tf.string else dtype.name, shape)


def signatures_from_meta_graph(meta_graph) -> dict[str, Signature]:
    """`Signature`s (inputs, outputs, method) of every signature_def but `__saved_model_init_op`."""
    return {name: Signature({a: _spec(a, i) for a, i in sig.inputs.items()},
                            {a: _spec(a, i) for a, i in sig.outputs.items()},
                            sig.method_name)
            for name, sig in meta_graph.signature_def.items()
            if name != "__saved_model_init_op"}


class _FlatCall:
    """A signature's graph function called on flat tensors, as `ConcreteFunction` does.

    `fn(**inputs)` re-binds the keyword arguments against the function type,
    re-flattens them and re-reads every captured variable handle (105 for the
    encoder) on each call: 0.1-0.4 ms of Python per request on the 2-core VM,
    more than all the rest of the server's own per-request work. The flat argument order, the captures and
    the output names are fixed for a loaded signature, so they are read once
    here. `__call__` returns None whenever the full call is needed (a tensor
    of another dtype or shape, a gradient tape, graph mode); `ConcreteFunction`
    then raises its usual errors.
    """

    def __init__(self, fn):
        self.fn = fn
        self.atomic = fn._inference_function  # pylint: disable=protected-access
        self.keys = [k.decode() if isinstance(k, bytes) else k
                     for k in fn._arg_keywords]  # pylint: disable=protected-access
        self.specs = [(t.dtype, tuple(t.shape.as_list()) if t.shape.rank is not None else None)
                      for t in fn.inputs[:len(self.keys)]]
        raw = fn._captured_inputs  # pylint: disable=protected-access
        if any(callable(c) for c in raw):
            raise ValueError("deferred captures")
        self.captures = list(fn.captured_inputs)
        if not all(isinstance(c, tf.Tensor) for c in self.captures):
            raise ValueError("non-tensor captures (distributed variables)")
        structured = fn.structured_outputs
        if not isinstance(structured, dict) or not all(
                isinstance(v, (tf.Tensor, tf.TensorSpec)) for v in structured.values()):
            raise ValueError("outputs are not a flat dict of tensors")
        self.names = tf.nest.flatten({k: k for k in structured})  # flatten's key order

    def __call__(self, inputs: dict) -> dict | None:
        if not tf.executing_eagerly() or _tape_may_record():
            return None
        args = []
        for key, (dtype, shape) in zip(self.keys, self.specs):
            tensor = tf.constant(inputs[key])
            if tensor.dtype != dtype or not _fits(tensor.shape, shape):
                return None
            args.append(tensor)
        flat = self.atomic.call_flat(*args, *self.captures)
        if len(flat) != len(self.names):
            return None
        return dict(zip(self.names, flat))


def _fits(shape, want) -> bool:
    if want is None:
        return True
    return len(shape) == len(want) and all(w is None or w == g for w, g in zip(want, shape))


def _tape_may_record() -> bool:
    return _could_possibly_record is None or _could_possibly_record()


try:  # the check `ConcreteFunction._call_flat` makes before its no-gradient fast path
    from tensorflow.python.eager.record import could_possibly_record as _could_possibly_record
except ImportError:  # pragma: no cover - a TF without it: always take the full call
    _could_possibly_record = None


class _Tf2Runner:
    """Calls the signature functions of `tf.saved_model.load`."""

    def __init__(self, path: str):
        self.loaded = tf.saved_model.load(path, tags=[SERVE_TAG])
        self.functions = dict(self.loaded.signatures)
        self.flat = {}
        for name, fn in self.functions.items():
            try:
                self.flat[name] = _FlatCall(fn)
            except Exception as e:  # noqa: BLE001 - any surprise: the full call
                log.debug("%s: signature %s called through ConcreteFunction (%s)", path, name, e)

    def run(self, name, inputs, outputs):
        flat = self.flat.get(name)
        if flat is not None and set(inputs) == set(flat.keys):
            result = flat(inputs)
            if result is not None:
                return {k: result[k].numpy() for k in outputs}
        fn = self.functions[name]
        result = fn(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: result[k].numpy() for k in outputs}

    def close(self):
        self.functions.clear()
        self.flat.clear()
        self.loaded = None


class _SessionRunner:
    """TF1 path: a `Session` over the graph, fed and fetched by tensor name."""

    def __init__(self, path: str, meta_graph):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            tf.compat.v1.saved_model.loader.load(self.session, [SERVE_TAG], path)
        self.defs = meta_graph.signature_def

    def run(self, name, inputs, outputs):
        sig = self.defs[name]
        feed = {sig.inputs[k].name: v for k, v in inputs.items()}
        fetch = {k: sig.outputs[k].name for k in outputs}
        at, options = deadline.current(), None
        if at is not None:  # the session stops the run at the deadline (DEADLINE_EXCEEDED)
            options = tf.compat.v1.RunOptions(
                timeout_in_ms=max(1, int((at - time.monotonic()) * 1000)))
        return self.session.run(fetch, feed_dict=feed, options=options)

    def close(self):
        self.session.close()


class SavedModelServable(Servable):
    """One loaded version of a SavedModel.

    Args:
        path: the version folder (`<base_path>/<version>`).
        name: the model name clients send.
        version: the version number (default: the folder's name).
        loader: `auto` (TF2, falling back to TF1), `tf2` or `session`.

    Raises:
        FileNotFoundError, ValueError: no SavedModel, or no `serve` graph.
        Exception: whatever TensorFlow raises if no loader can restore it.
    """

    accepts_output_names = True  # TF1 sessions fetch only what the filter asks for

    def __init__(self, path: str, name: str, version: int | None = None, loader: str = "auto"):
        self.path = path
        self.name = name
        self.version = int(os.path.basename(os.path.normpath(path))) if version is None \
            else version
        self.meta_graph = read_meta_graph(path)
        self._signatures = signatures_from_meta_graph(self.meta_graph)
        self._runner = self._load(loader)

    def _load(self, loader: str):
        if loader in ("auto", "tf2"):
            try:
                runner = _Tf2Runner(self.path)
                missing = set(self._signatures) - set(runner.functions)
                if not missing:
                    return runner
                raise ValueError(f"tf.saved_model.load lost signatures {sorted(missing)}")
            except Exception as e:  # noqa: BLE001 - any TF2 failure -> try TF1 session
                if loader == "tf2":
                    raise
                log.info("%s: TF2 loading failed (%s); using a TF1 session", self.path, e)
        return _SessionRunner(self.path, self.meta_graph)

    @property
    def backend(self) -> str:
        return "tf2" if isinstance(self._runner, _Tf2Runner) else "session"

    @property
    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    @property
    def signature_defs(self):
        """Signature name -> `SignatureDef` proto, as TF Serving's metadata gives it."""
        return self.meta_graph.signature_def

    def run(self, signature_name: str, inputs: dict[str, np.ndarray],
            output_names=None) -> dict[str, np.ndarray]:
        """Runs a signature; `output_names` restricts what is fetched (TF1 prunes)."""
        outputs = list(output_names or self._signatures[signature_name].outputs)
        try:
            return self._runner.run(signature_name, inputs, outputs)
        except (tf.errors.InvalidArgumentError, TypeError, ValueError) as e:
            # The graph refused the input (shape or value); the client's fault.
            raise ValueError(_first_line(e)) from None
        except tf.errors.OpError as e:
            # Any other TensorFlow error keeps its canonical code, as in TF Serving
            # (e.g. RESOURCE_EXHAUSTED for an allocation that failed).
            code = next((c for c in grpc.StatusCode if c.value[0] == e.error_code),
                        grpc.StatusCode.INTERNAL)
            raise ServingError(code, _first_line(e)) from None

    def close(self) -> None:
        self._runner.close()


def _first_line(error: Exception) -> str:
    """What a TensorFlow error says about the input, on one line.

    A graph error reads "Graph execution error:", then "Detected at node ...
    defined at" and the Python frames that built the node, then the op's own
    message and `[[{{node ...}}]] [Op:...]`: only the op's message is kept.
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    kept = [line.strip() for line in lines if not (
        line.startswith((" ", "\t")) or line.startswith(("Graph execution error",
                                                           "Detected at node")))]
    return (" ".join(kept) or (lines[0] if lines else type(error).__name__)).strip()
