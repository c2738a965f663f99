"""Loaded models and their versions: config, polling, labels, reload, lookups.

Availability first, as TF Serving's default policy: a new version is loaded
and warmed up before it is AVAILABLE, and the versions it replaces are
unloaded only once one wanted version is AVAILABLE (and then only after the
requests using them finish). A version that fails to load stays in the
status as END with its error; the previous version keeps serving.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from typing import Callable

import grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config.file_system_storage_path_source_pb2 import (
    FileSystemStoragePathSourceConfig)

from lepton_tf.server.config import validate_model_server_config
from lepton_tf.server.errors import ServingError, failed_precondition, invalid_argument, not_found
from lepton_tf.server.servable import Servable
from lepton_tf.server.version_policy import aspired_versions, version_dirs

log = logging.getLogger(__name__)
State = get_model_status_pb2.ModelVersionStatus.State
UNLOAD_WAIT_S = 60.0


@dataclasses.dataclass
class VersionRecord:
    """One version's lifecycle: state, error, the servable once loaded."""

    state: int = State.START
    error: ServingError | None = None
    servable: Servable | None = None
    path: str = ""
    mtime: float = 0.0
    refs: int = 0


@dataclasses.dataclass
class ManagedModel:
    name: str
    base_path: str = ""
    policy: object = None
    labels: dict = dataclasses.field(default_factory=dict)
    versions: dict = dataclasses.field(default_factory=dict)
    python: bool = False      # registered in code: not part of the model config
    lister: Callable | None = None  # () -> {version: path} instead of the base path
    loader: Callable | None = None  # (path, name, version) -> Servable for `lister` models
    pins: dict = dataclasses.field(default_factory=dict)  # version -> holders (kept loaded)


class ModelManager:
    """Holds every model the server answers for.

    Args:
        load: `(path, name, version) -> Servable`, e.g. `SavedModelServable`.
        warmup: `(servable, path) -> None` run before AVAILABLE (None: no warmup).
        wrap: `(servable) -> Servable` applied after loading (batching).
    """

    def __init__(self, load: Callable, warmup: Callable | None = None,
                 wrap: Callable | None = None):
        self._load, self._warmup, self._wrap = load, warmup, wrap
        self._models: dict[str, ManagedModel] = {}
        self._lock = threading.Condition()
        self._poll_lock = threading.Lock()
        self.config = None

    # -- configuration -------------------------------------------------
    def reload_config(self, config) -> None:
        """Applies a `ModelServerConfig`: adds, removes and re-polls models.

        Raises:
            ServingError: INVALID_ARGUMENT for a bad config, FAILED_PRECONDITION
                for a label on a version that is not AVAILABLE. The models
                stay as they were when the config is refused before loading.
        """
        try:
            validate_model_server_config(config)
        except ValueError as e:
            raise invalid_argument(str(e)) from None
        wanted = {m.name: m for m in config.model_config_list.config}
        with self._lock:
            for name in wanted:
                if name in self._models and self._models[name].python:
                    raise invalid_argument(f"Model {name} is hosted by a Python servable.")
            for name, cfg in wanted.items():
                model = self._models.setdefault(name, ManagedModel(name))
                model.base_path, model.policy = cfg.base_path, cfg.model_version_policy
            removed = [n for n, m in self._models.items() if not m.python and n not in wanted]
        self.config = config
        for name in removed:
            self._unload_model(name)
        self.poll()
        self._apply_labels(wanted)

    def _apply_labels(self, wanted) -> None:
        with self._lock:
            for name, cfg in wanted.items():
                model = self._models[name]
                for label, version in cfg.version_labels.items():
                    record = model.versions.get(version)
                    if record is None or record.state != State.AVAILABLE:
                        raise failed_precondition(
                            f"Request to assign label to version {version} of model {name}, "
                            "which is not currently available for inference")
                model.labels = dict(cfg.version_labels)

    def add_python_servable(self, servable: Servable) -> None:
        """Hosts a code-registered servable as AVAILABLE (no polling, no config)."""
        with self._lock:
            if servable.name in self._models and not self._models[servable.name].python:
                raise ValueError(f"Model {servable.name} is already in the model config.")
            model = self._models.setdefault(servable.name, ManagedModel(servable.name, python=True))
            model.versions[servable.version] = VersionRecord(State.AVAILABLE, servable=servable)

    def add_polled_python_model(self, name: str, lister: Callable, loader: Callable) -> None:
        """Hosts a code-built model whose versions come and go (a versioned index).

        Args:
            name: the model name.
            lister: `() -> {version: path}` of the versions that exist now.
            loader: `(path, name, version) -> Servable`.

        The latest version is served and polled like a SavedModel's (load and
        warmup before AVAILABLE, the old one unloaded after); call `poll()`.
        """
        with self._lock:
            if name in self._models:
                raise ValueError(f"Model {name} is already hosted.")
            self._models[name] = ManagedModel(
                name, policy=FileSystemStoragePathSourceConfig.ServableVersionPolicy(),
                python=True, lister=lister, loader=loader)

    # -- polling -------------------------------------------------------
    def poll(self) -> None:
        """Loads new wanted versions and unloads unwanted ones, for every model."""
        with self._poll_lock:
            with self._lock:
                # SavedModels first: a code-built versioned model (the search
                # index) pairs with the encoder version loaded before it.
                models = [m for m in self._models.values() if not m.python] + \
                    [m for m in self._models.values() if m.python and m.lister]
            for model in models:
                try:
                    self._poll_model(model)
                except Exception:  # noqa: BLE001 - one model's trouble must not stop the rest
                    log.exception("polling model %s failed", model.name)

    def _poll_model(self, model: ManagedModel) -> None:
        on_disk = model.lister() if model.lister else version_dirs(model.base_path)
        wanted = aspired_versions(model.policy, on_disk)
        for version in sorted(wanted, reverse=True):
            record = model.versions.get(version)
            mtime = _mtime(on_disk[version])
            # Load what is new, what was unloaded and is wanted again, and a failed
            # version whose folder changed since (not the same broken files again).
            if record is None or (record.state == State.END and (
                    record.error is None or record.mtime != mtime)):
                self._load_version(model, version, on_disk[version], mtime)
        with self._lock:
            serving = any(model.versions[v].state == State.AVAILABLE
                          for v in wanted if v in model.versions)
            stale = [v for v, r in model.versions.items()
                     if v not in wanted and r.state == State.AVAILABLE
                     and not model.pins.get(v)]
        if serving or not wanted:
            for version in stale:
                self._unload_version(model, version)

    def _load_version(self, model: ManagedModel, version: int, path: str, mtime: float) -> None:
        record = VersionRecord(State.LOADING, path=path, mtime=mtime)
        with self._lock:
            model.versions[version] = record
        servable = None
        log.info("Loading servable version {name: %s version: %d} from %s",
                 model.name, version, path)
        try:
            servable = (model.loader or self._load)(path, model.name, version)
            if self._wrap is not None:
                servable = self._wrap(servable)
            if self._warmup is not None:
                self._warmup(servable, path)
        except Exception as e:  # noqa: BLE001 - a bad version must not stop the server
            log.error("Loading servable %s version %d failed: %s", model.name, version, e)
            if servable is not None:
                _close_quietly(servable)
            with self._lock:
                record.state = State.END
                record.error = ServingError(grpc.StatusCode.UNKNOWN if not isinstance(
                    e, ServingError) else e.code, f"Failed to load {path}: {e}")
            return
        with self._lock:
            record.servable, record.state = servable, State.AVAILABLE
        log.info("Successfully loaded servable version {name: %s version: %d}",
                 model.name, version)

    def _unload_version(self, model: ManagedModel, version: int) -> None:
        with self._lock:
            record = model.versions[version]
            record.state = State.UNLOADING
            # New requests no longer see it; wait for the ones that hold it.
            self._lock.wait_for(lambda: record.refs == 0, timeout=UNLOAD_WAIT_S)
            servable, record.servable = record.servable, None
            record.error = None  # a pairing note of the loaded version, not a load failure
        try:
            if servable is not None:
                servable.close()
        finally:
            with self._lock:
                record.state = State.END
        log.info("Unloaded servable version {name: %s version: %d}", model.name, version)

    def _unload_model(self, name: str) -> None:
        model = self._models[name]
        for version, record in list(model.versions.items()):
            if record.state == State.AVAILABLE:
                self._unload_version(model, version)
        with self._lock:
            self._models.pop(name, None)

    def close(self) -> None:
        """Unloads every version (SavedModel and Python servables alike)."""
        for name in list(self._models):
            self._unload_model(name)

    # -- lookups -------------------------------------------------------
    def resolve_version(self, name: str, version: int | None = None,
                        label: str | None = None) -> tuple[ManagedModel, int]:
        """The model and the AVAILABLE version a request names (call under the lock)."""
        model = self._models.get(name)
        if label:
            if model is None or label not in model.labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = model.labels[label]
        if version is None:
            available = [] if model is None else [
                v for v, r in model.versions.items() if r.state == State.AVAILABLE]
            if not available:
                raise not_found(f"Servable not found for request: Latest({name})")
            return model, max(available)
        record = None if model is None else model.versions.get(version)
        if record is None or record.state != State.AVAILABLE:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return model, version

    @contextlib.contextmanager
    def servable(self, name: str, version: int | None = None, label: str | None = None):
        """Holds a servable for one request; its version is not unloaded meanwhile.

        Raises:
            ServingError: NOT_FOUND (no such model/version available) or
                INVALID_ARGUMENT (unknown label), with TF Serving's texts.
        """
        with self._lock:
            model, number = self.resolve_version(name, version, label)
            record = model.versions[number]
            record.refs += 1
        try:
            yield record.servable
        finally:
            with self._lock:
                record.refs -= 1
                if record.refs == 0:
                    self._lock.notify_all()

    def label_version(self, name: str, label: str) -> int:
        """The version a label names.

        Raises:
            ServingError: INVALID_ARGUMENT for an unknown label (TF Serving's text).
        """
        with self._lock:
            model = self._models.get(name)
            if model is None or label not in model.labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            return model.labels[label]

    def status(self, name: str, version: int | None = None) -> list[tuple[int, int, object]]:
        """`(version, state, ServingError or None)` rows, as GetModelStatus reports.

        Raises:
            ServingError: NOT_FOUND with TF Serving's texts.
        """
        with self._lock:
            model = self._models.get(name)
            versions = {} if model is None else dict(model.versions)
            if version is not None:
                if version not in versions:
                    raise not_found(f"Could not find version {version} of model {name}")
                versions = {version: versions[version]}
            if not versions:
                raise not_found(f"Could not find any versions of model {name}")
            return [(v, r.state, r.error) for v, r in sorted(versions.items())]

    # -- pairing (a search index and the encoder version that built it) --
    def pin(self, name: str, version: int, pinned: bool = True) -> None:
        """Keeps an AVAILABLE version loaded while something depends on it
        (even when the version policy no longer wants it); `pinned=False`
        releases one hold, and the next poll unloads it if unwanted."""
        with self._lock:
            model = self._models.get(name)
            if model is None:
                return
            count = model.pins.get(version, 0) + (1 if pinned else -1)
            if count > 0:
                model.pins[version] = count
            else:
                model.pins.pop(version, None)

    def set_version_error(self, name: str, version: int, error: ServingError | None) -> None:
        """Attaches (or clears) a status message on a loaded version, shown
        by GetModelStatus (e.g. a refused pairing while it keeps serving)."""
        with self._lock:
            model = self._models.get(name)
            record = None if model is None else model.versions.get(version)
            if record is not None and record.state == State.AVAILABLE:
                record.error = error

    def version_paths(self, name: str) -> dict[int, str]:
        """`{version: path}` of the AVAILABLE versions of `name` ("" when
        registered in code)."""
        with self._lock:
            model = self._models.get(name)
            return {} if model is None else {
                v: r.path for v, r in model.versions.items() if r.state == State.AVAILABLE}

    def model_names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def available(self) -> list[tuple[str, int]]:
        """Every AVAILABLE `(name, version)`."""
        with self._lock:
            return sorted((m.name, v) for m in self._models.values()
                          for v, r in m.versions.items() if r.state == State.AVAILABLE)


def _close_quietly(servable: Servable) -> None:
    try:
        servable.close()
    except Exception:  # noqa: BLE001 - the load already failed; report that, not this
        log.exception("closing %s after a failed load", servable.name)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
