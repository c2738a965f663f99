"""`SavedModelServable`: any SavedModel stock TF Serving serves, TF2 or TF1.

The signatures (and `GetModelMetadata`'s `signature_def`) come from the
MetaGraphDef tagged `serve` in `saved_model.pb`, exactly what TF Serving
reads. A TF1 SavedModel (no object graph) runs in a TF1 `Session` loaded
with `tf.compat.v1.saved_model.loader` and fed through the C++ `Session::Run`,
as TF Serving's own loader and `RunPredict` do: no Python-side shape check, a
tensor is fed by the name the SignatureDef gives whatever dtype it declares,
and TensorFlow's runtime refuses what does not fit with its own error. A TF2
SavedModel runs on `tf.saved_model.load`'s signature functions (falling back
to the session when they cannot be restored), called on the tensors as sent.
TensorFlow's errors keep their canonical code and the op's own message.
"""

from __future__ import annotations

import logging
import os
import re
import time

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow.python.client import pywrap_tf_session as tf_session  # Session::Run with RunOptions

from lepton_tf.server import deadline, tf_cancel
from lepton_tf.server.errors import ServingError, deadline_exceeded, invalid_argument
from lepton_tf.server.servable import Servable, Signature, TensorSpec
from lepton_tf.server.tensors import MAX_NUMPY_STRING_RANK, to_tensor

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
    dtype = tf.dtypes.as_dtype(info.dtype).base_dtype  # DT_FLOAT_REF outputs: float32
    unknown = info.tensor_shape.unknown_rank or not info.HasField("tensor_shape")
    shape = None if unknown else tuple(None if d.size < 0 else d.size
                                       for d in info.tensor_shape.dim)
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
    here. Tensors are passed as sent, whatever shape the signature declares
    (TF Serving's session feeds them the same way; an op that cannot take the
    shape fails with TensorFlow's own error). `__call__` returns None when the
    full call is needed (a gradient tape, graph mode).
    """

    def __init__(self, fn):
        self.fn = fn
        self.atomic = fn._inference_function  # pylint: disable=protected-access
        self.keys = [k.decode() if isinstance(k, bytes) else k
                     for k in fn._arg_keywords]  # pylint: disable=protected-access
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
        args = [to_tensor(np.asarray(inputs[key])) for key in self.keys]
        flat = self.atomic.call_flat(*args, *self.captures)
        if len(flat) != len(self.names):
            return None
        return dict(zip(self.names, flat))


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
        """Runs signature `name`, stopped mid-run at the request's deadline or
        cancellation (`tf_cancel`).

        Raises:
            ServingError: DEADLINE_EXCEEDED or CANCELLED when it was stopped.
            tf.errors.OpError: TensorFlow refused or failed the run.
        """
        with tf_cancel.cancellable(deadline.current(), deadline.current_cancel()) as manager:
            try:
                return self._call(name, inputs, outputs)
            except tf.errors.CancelledError:
                if manager is None or not manager.is_cancelled:
                    raise
                deadline.check()
                raise deadline_exceeded() from None

    def _call(self, name, inputs, outputs):
        flat = self.flat.get(name)
        if flat is not None and set(inputs) == set(flat.keys):
            result = flat(inputs)
            if result is not None:
                return {k: result[k].numpy() for k in outputs}
        fn = self.functions[name]
        result = fn(**{k: to_tensor(np.asarray(v)) for k, v in inputs.items()})
        return {k: result[k].numpy() for k in outputs}

    def close(self):
        self.functions.clear()
        self.flat.clear()
        self.loaded = None


class _SessionRunner:
    """TF1 path: a `Session` over the graph, fed and fetched by tensor name.

    Runs go straight to the C++ `Session::Run` (`TF_SessionRun`), the call TF
    Serving makes: `Session.run`'s Python layer would refuse a value whose shape
    differs from the placeholder's and cast it to the placeholder's dtype, two
    checks TF Serving does not make.
    """

    def __init__(self, path: str, meta_graph):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            tf.compat.v1.saved_model.loader.load(self.session, [SERVE_TAG], path)
        self.defs = meta_graph.signature_def
        self._outputs: dict = {}  # tensor name -> TF_Output

    def _output(self, name: str):
        found = self._outputs.get(name)
        if found is None:
            found = self._outputs[name] = self.graph.get_tensor_by_name(name)._as_tf_output()
        return found

    def run(self, name, inputs, outputs):
        sig = self.defs[name]
        feed = {self._output(sig.inputs[k].name): _feedable(v) for k, v in inputs.items()}
        fetch = [self._output(sig.outputs[k].name) for k in outputs]
        at, options = deadline.current(), None
        if at is not None:  # the session stops the run at the deadline (DEADLINE_EXCEEDED)
            run_options = tf.compat.v1.RunOptions(
                timeout_in_ms=max(1, int((at - time.monotonic()) * 1000)))
            options = tf_session.TF_NewBufferFromString(run_options.SerializeToString())
        try:
            values = self.session._call_tf_sessionrun(  # pylint: disable=protected-access
                options, feed, fetch, [], None)
        finally:
            if options is not None:
                tf_session.TF_DeleteBuffer(options)
        return dict(zip(outputs, values))

    def close(self):
        self.session.close()


def _feedable(value) -> np.ndarray:
    """A numpy array `TF_SessionRun` takes (strings as an object array of bytes).

    Raises:
        ServingError: INVALID_ARGUMENT for a string array deeper than
            TensorFlow's numpy conversion handles (it would crash the server).
    """
    array = np.asarray(value)
    if array.dtype.kind in "SU":
        array = array.astype(object)
    if array.dtype == object and array.ndim > MAX_NUMPY_STRING_RANK:
        raise invalid_argument(f"a string tensor of rank {array.ndim} cannot be fed to a TF1 "
                               f"SavedModel here (at most rank {MAX_NUMPY_STRING_RANK})")
    return array


def is_tf1(meta_graph) -> bool:
    """True for a SavedModel written by TF1's builder (no object graph to restore)."""
    return not meta_graph.object_graph_def.nodes


class SavedModelServable(Servable):
    """One loaded version of a SavedModel.

    Args:
        path: the version folder (`<base_path>/<version>`).
        name: the model name clients send.
        version: the version number (default: the folder's name).
        loader: `auto` (a TF1 SavedModel in a session, a TF2 one on its
            signature functions, falling back to a session), `tf2` or `session`.

    Raises:
        FileNotFoundError, ValueError: no SavedModel, or no `serve` graph.
        Exception: whatever TensorFlow raises if no loader can restore it.
    """

    accepts_output_names = True  # TF1 sessions fetch only what the filter asks for
    checks_own_inputs = True  # TensorFlow's runtime refuses a dtype or shape, as in TF Serving

    def __init__(self, path: str, name: str, version: int | None = None, loader: str = "auto"):
        self.path = path
        self.name = name
        self.version = int(os.path.basename(os.path.normpath(path))) if version is None \
            else version
        self.meta_graph = read_meta_graph(path)
        self._signatures = signatures_from_meta_graph(self.meta_graph)
        self._runner = self._load(loader)

    def _load(self, loader: str):
        if loader == "tf2" or (loader == "auto" and not is_tf1(self.meta_graph)):
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
        except tf.errors.OpError as e:
            # TensorFlow's error keeps its canonical code, as in TF Serving
            # (INVALID_ARGUMENT for an input the graph refuses, RESOURCE_EXHAUSTED
            # for an allocation that failed), and the op's own message.
            code = next((c for c in grpc.StatusCode if c.value[0] == e.error_code),
                        grpc.StatusCode.INTERNAL)
            raise ServingError(code, op_error_message(e)) from None
        except (TypeError, ValueError) as e:
            # Python's side of TensorFlow refused the input (e.g. a value no tensor holds).
            raise ValueError(op_error_message(e)) from None

    def close(self) -> None:
        self._runner.close()


_TRACE_LINE = re.compile(r"^(\s|<stack traces unavailable>|Node: )")
_OP_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\]\s*$")


def op_error_message(error: Exception) -> str:
    """TensorFlow's message for a failed run, as TF Serving's C++ status carries it.

    An eager function's error reads "Graph execution error:", then per failed
    node "Detected at node X defined at (most recent call last):", Python's
    stack, and only then the op's message ("assertion failed: [...]",
    "indices[0] = 5 is not in [0, 2)") with its `[[{{node X}}]]` line. The
    header and the stacks are Python's; the op's message is what a client
    needs, so it is what is kept (an eager op's " [Op:...]" suffix dropped).
    """
    text = (getattr(error, "message", None) or str(error)).strip()
    if text.startswith("Graph execution error:"):
        kept, in_trace = [], False
        for line in text.split("\n")[1:]:
            if line.startswith("Detected at node"):
                in_trace = True
                continue
            if in_trace and (not line.strip() or _TRACE_LINE.match(line)):
                continue
            in_trace = False
            if line.strip() or kept:
                kept.append(line)
        text = "\n".join(kept).strip()
    text = _OP_SUFFIX.sub("", text).strip()
    return text or type(error).__name__
