"""`ModelServer`: the model manager behind a gRPC and a REST front.

Usage (what `lepton-tf serve` does):

>>> server = ModelServer(ServerOptions(model_name="half", model_base_path="/models/half",
...                                    port=0, rest_api_port=0))  # doctest: +SKIP
>>> server.register_python_servable("search", my_servable)  # doctest: +SKIP
>>> server.start()  # loads the models, then listens        # doctest: +SKIP
>>> server.stop()                                            # doctest: +SKIP

(Skipped in the doctests: it needs a SavedModel on disk; the suite's
`tests/test_server_*.py` run the same calls.)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from concurrent import futures
from typing import Callable

import grpc

from lepton_tf.server import config as config_lib
from lepton_tf.server import limits
from lepton_tf.server.batching import BatchingServable
from lepton_tf.server.errors import ServingError
from lepton_tf.server import authenticators as auth_lib
from lepton_tf.server.grpc_service import AuthInterceptor, add_services
from lepton_tf.server.metrics import Metrics
from lepton_tf.server.model_manager import ModelManager
from lepton_tf.server.rest import RestServer
from lepton_tf.server.saved_model_servable import SavedModelServable
from lepton_tf.server.servable import Servable
from lepton_tf.server.version_policy import version_dirs
from lepton_tf.server.warmup_replay import replay_warmup

log = logging.getLogger(__name__)
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass
class ServerOptions:
    """TF Serving's flags (same names and defaults) plus lepton-tf's own."""

    port: int = 8500
    rest_api_port: int = 8501
    model_name: str | None = None
    model_base_path: str | None = None
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0
    file_system_poll_wait_seconds: float = 1
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    monitoring_config_file: str | None = None
    enable_model_warmup: bool = True
    rest_api_timeout_in_ms: int = 30000
    enable_signature_method_name_check: bool = False
    grpc_socket_path: str | None = None  # also listen on this UNIX socket
    grpc_channel_arguments: str = ""  # "key=value,key=value" for the gRPC server
    # lepton-tf's own
    host: str = "127.0.0.1"
    auth_token: str | None = None  # one shared token: an unrestricted caller
    tokens_file: str | None = None  # YAML principal -> token_sha256, groups (reloaded)
    jwt_public_key: str | None = None  # PEM key that signs callers' JWTs
    jwt_jwks_file: str | None = None  # or a JWKS file of such keys (reloaded)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    ssl_cert_file: str | None = None
    ssl_key_file: str | None = None
    grpc_max_threads: int = 64  # each in-flight request holds one (a batch waits in them)
    rest_max_threads: int = 64  # REST model work at once (more waits, under its deadline)
    rest_max_connections: int = 1024  # open REST connections (more: 503)
    rest_idle_timeout_s: float = 30.0  # idle keep-alive / unfinished request or body
    loader: str = "auto"
    max_batch_size: int = limits.Limits.max_batch_size  # rows per request (0: no limit)
    max_tensor_bytes: int = limits.Limits.max_tensor_bytes  # expanded input bytes
    deadline_margin_ms: int = limits.Limits.deadline_margin_ms  # work may end this late
    request_limits_file: str | None = None  # per-model limits (lepton_tf.server.limits)
    metrics_path: str | None = None  # filled from monitoring_config_file
    redact_logs: bool = True  # personal data in any log record -> [EMAIL], [PHONE], ...
    redaction_policy_dir: str | None = None  # the index base holding redaction.json
    audit_log: str | None = None  # JSONL audit trail (who asked what, what came back)


def warn_models_without_versions(config) -> list[str]:
    """Logs a warning naming each configured model with no version on disk.

    TF Serving starts anyway and answers "Could not find any versions of
    model X" to every request; the warning says so at start.

    Args:
        config: a `ModelServerConfig`.

    Returns:
        The names warned about.
    """
    missing = []
    for model in config.model_config_list.config:
        if not version_dirs(model.base_path):
            missing.append(model.name)
            if os.path.isfile(os.path.join(model.base_path, "saved_model.pb")):
                log.warning("model %s: %s is a version folder, not a base path; give its "
                            "parent, %s (TF Serving loads the numbered folders inside a base "
                            "path)", model.name, model.base_path,
                            os.path.dirname(os.path.normpath(model.base_path)))
                continue
            log.warning("model %s has no version under %s (no N/saved_model.pb): requests to "
                        "it will fail until one is exported there; build it with "
                        "`lepton-tf main` or fix base_path in the model config",
                        model.name, model.base_path)
    return missing


def _named(servable: Servable, name: str) -> Servable:
    servable.name = name
    return servable


class ModelServer:
    """Hosts SavedModels (from a config or one base path) and Python servables.

    Args:
        options: the server's options.
        python_servables: name -> `Servable` (or factory `server -> Servable`)
            to host next to the SavedModels; see `register_python_servable`.
    """

    def __init__(self, options: ServerOptions, python_servables: dict | None = None):
        self.options = options
        options.metrics_path = config_lib.load_monitoring_config(options.monitoring_config_file)
        self.batching = config_lib.load_batching_parameters(options.batching_parameters_file) \
            if options.enable_batching else None
        self.metrics = Metrics()
        self.authenticators = auth_lib.from_options(options)
        self.audit = None  # an `audit.AuditSink`: the file, or a store that implements it
        if options.audit_log:
            from lepton_tf.server.audit import AuditRoute, JsonlAuditLog

            self.audit = JsonlAuditLog(options.audit_log)
        self.request_limits = limits.RequestLimits.load(options.request_limits_file, limits.Limits(
            max_batch_size=options.max_batch_size, max_tensor_bytes=options.max_tensor_bytes,
            deadline_margin_ms=options.deadline_margin_ms))
        self.manager = ModelManager(
            load=lambda path, name, version: SavedModelServable(path, name, version,
                                                                loader=options.loader),
            warmup=replay_warmup if options.enable_model_warmup else None,
            wrap=self._wrap)
        self._pending_python = dict(python_servables or {})
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._config_text = None
        self._polled_python = False
        self._started = False
        self.grpc_server = self.rest_server = None
        self.grpc_port = self.rest_port = None
        self._grpc_handlers: list = []
        self.rest_routes: dict = {}  # (HTTP method, path) -> (handler fn, public)
        if self.audit is not None:
            self.add_rest_route("GET", "/v1/audit", AuditRoute(self.audit))

    def _wrap(self, servable: Servable) -> Servable:
        """Each loaded servable: batched if batching is on, with its request limits."""
        if self.batching:
            servable = BatchingServable(servable, self.batching, self.metrics.batch_observer(
                servable.name, servable.version))
        return limits.attach(servable, self.request_limits.for_model(servable.name))

    def register_python_servable(self, name: str, servable: Servable | Callable) -> None:
        """Hosts a code-built servable under `name` (before or after `start`).

        Args:
            name: the model name clients use; must not be in the model config.
            servable: a `Servable`, or a factory called with this server (so
                it can reach other models, e.g. the encoder, in process).
        """
        if not self._started:
            self._pending_python[name] = servable
            return
        if callable(servable) and not isinstance(servable, Servable):
            servable = servable(self)
        servable.name = name
        self.manager.add_python_servable(self._wrap(servable))

    def register_polled_python_servable(self, name: str, lister: Callable,
                                        loader: Callable) -> None:
        """Hosts a code-built model with versions on disk, polled like a SavedModel.

        Args:
            name: the model name clients use.
            lister: `() -> {version: path}` of the versions that exist now.
            loader: `(server, path, version) -> Servable`, e.g. a `SearchServable`
                over one index version; new versions are loaded (and old ones
                unloaded) every `--file_system_poll_wait_seconds`.
        """
        self.manager.add_polled_python_model(
            name, lister, lambda path, model, version: _named(loader(self, path, version), model))
        self._polled_python = True

    def add_generic_rpc_handlers(self, handlers) -> None:
        """Extra gRPC services (`grpc.GenericRpcHandler`s, e.g. the assistant's
        streaming method), served beside TF Serving's; call before `start`."""
        if self._started:
            raise RuntimeError("add gRPC handlers before start()")
        self._grpc_handlers.extend(handlers)

    def add_rest_route(self, method: str, path: str, handler: Callable,
                       public: bool = False) -> None:
        """An extra REST route: `handler(request_handler, body: bytes)` writes the
        whole response itself (it may stream). `public` routes skip the bearer
        token (a static web page a browser opens)."""
        self.rest_routes[(method.upper(), path)] = (handler, public)

    # -- config --------------------------------------------------------
    def _initial_config(self):
        if self.options.model_config_file:
            with open(self.options.model_config_file, encoding="utf-8") as f:
                self._config_text = f.read()
            return config_lib.load_model_server_config(self.options.model_config_file)
        if self.options.model_base_path:
            return config_lib.single_model_config(self.options.model_name or "default",
                                                  self.options.model_base_path)
        return None

    def reload_config(self, config) -> None:
        """Applies a new `ModelServerConfig` without a restart (also via gRPC)."""
        self.manager.reload_config(config)

    def _poll_config_file(self) -> None:
        path = self.options.model_config_file
        while not self._stop.wait(self.options.model_config_file_poll_wait_seconds):
            try:
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                if text != self._config_text:
                    self.reload_config(config_lib.load_model_server_config(path))
                    self._config_text = text
                    log.info("Reloaded model config %s", path)
            except (OSError, ValueError, ServingError) as e:
                log.error("Model config %s not reloaded: %s", path, e)

    def _poll_file_system(self) -> None:
        while not self._stop.wait(self.options.file_system_poll_wait_seconds):
            try:
                self.manager.poll()
            except Exception:  # noqa: BLE001 - keep polling
                log.exception("file system poll failed")

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, daemon=True, name=name)
        thread.start()
        self._threads.append(thread)

    # -- lifecycle -----------------------------------------------------
    def start(self) -> "ModelServer":
        """Loads the models (initial versions before listening), then serves.

        Raises:
            ValueError: a bad config file or no model and no Python servable.
            ServingError: a config TF Serving would refuse.
        """
        if self.options.redact_logs:
            from lepton_tf.server import log_redaction
            from lepton_tf.text.redaction import load_policy

            # The knowledge base's policy (`redaction.json` beside its index), else all kinds.
            log_redaction.install(load_policy(self.options.redaction_policy_dir))
        config = self._initial_config()
        if config is not None:
            warn_models_without_versions(config)
            self.manager.reload_config(config)
        if self._polled_python:
            self.manager.poll()
        if config is None and not self._pending_python and not self._polled_python:
            raise ValueError("Give --model_base_path, --model_config_file or a Python servable.")
        self._started = True  # factories run now: the SavedModels they may use are loaded
        for name, servable in self._pending_python.items():
            self.register_python_servable(name, servable)
        self._pending_python.clear()
        self._start_grpc()
        if self.options.rest_api_port != 0:
            self._start_rest()
        if self.options.file_system_poll_wait_seconds > 0 and (
                config is not None or self._polled_python):
            self._spawn(self._poll_file_system, "fs-poll")
        if self.options.model_config_file and self.options.model_config_file_poll_wait_seconds > 0:
            self._spawn(self._poll_config_file, "config-poll")
        return self

    def _start_grpc(self) -> None:
        opts = self.options
        interceptors = [AuthInterceptor(self.authenticators, self.audit)]
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=opts.grpc_max_threads),
            interceptors=interceptors,
            options=[("grpc.max_receive_message_length", opts.max_request_bytes),
                     ("grpc.max_send_message_length", -1),
                     ("grpc.so_reuseport", 0)]
            + config_lib.grpc_channel_arguments(opts.grpc_channel_arguments))
        add_services(server, self)
        if self._grpc_handlers:
            server.add_generic_rpc_handlers(tuple(self._grpc_handlers))
        address = f"{opts.host}:{opts.port}"
        if opts.ssl_cert_file:
            with open(opts.ssl_key_file, "rb") as k, open(opts.ssl_cert_file, "rb") as c:
                credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
            self.grpc_port = server.add_secure_port(address, credentials)
        else:
            self.grpc_port = server.add_insecure_port(address)
        if not self.grpc_port:
            raise OSError(f"Could not bind gRPC to {address}")
        if opts.grpc_socket_path and not server.add_insecure_port(f"unix:{opts.grpc_socket_path}"):
            raise OSError(f"Could not bind gRPC to unix:{opts.grpc_socket_path}")
        server.start()
        self.grpc_server = server
        log.info("Running gRPC ModelServer at %s:%d", opts.host, self.grpc_port)

    def _start_rest(self) -> None:
        opts = self.options
        self.rest_server = RestServer(self, opts.host, opts.rest_api_port, opts)
        self.rest_server.start()
        self.rest_port = self.rest_server.port
        log.info("Exporting HTTP/REST API at %s:%d", opts.host, self.rest_port)

    def wait(self) -> None:
        """Blocks until `stop` (or Ctrl-C)."""
        self._stop.wait()

    def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        if self.grpc_server is not None:
            self.grpc_server.stop(grace).wait()
        if self.rest_server is not None:
            self.rest_server.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.manager.close()
