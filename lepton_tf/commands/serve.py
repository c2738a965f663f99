"""`lepton-tf serve`: a drop-in for `tensorflow_model_server`.

TF Serving's flags keep their names, defaults and meanings (so a script can
swap the binary for this command); lepton-tf's own options have their own
names: `--host`, `--search_index`, `--search-only`, `--tf-serving`, TLS,
`--auth_token`, `--tokens_file`, `--jwt_public_key`, `--jwt_jwks_file`,
`--max_request_bytes`. With no `--model_config_file` and no
`--model_base_path` it serves what `lepton-tf main` builds (`saved_models/`,
`indexes/stackfaq`), so `lepton-tf serve --assistant` is the web page.
"""

from __future__ import annotations

import argparse
import os
import signal

DEFAULT_TASK_DB = os.path.join("databases", "example.sqlite")  # `lepton-tf main` builds it
DEFAULT_SKILLS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "configs", "skills", "banking77.yaml")
UPSTREAM_TOKEN_ENV = "LEPTON_UPSTREAM_TOKEN"


def _bool(text: str) -> bool:
    """TF Serving's boolean flags accept `--flag`, `--flag=true|false`."""
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text}")


def options_from_args(args):
    from lepton_tf.server.app import ServerOptions

    return ServerOptions(
        port=args.port, rest_api_port=args.rest_api_port, model_name=args.model_name,
        model_base_path=None if args.search_only else args.model_base_path,
        model_config_file=None if args.search_only else args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file,
        enable_model_warmup=args.enable_model_warmup,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        grpc_socket_path=args.grpc_socket_path, grpc_channel_arguments=args.grpc_channel_arguments,
        grpc_max_threads=args.grpc_max_threads, host=args.host,
        rest_max_threads=args.rest_max_threads, rest_max_connections=args.rest_max_connections,
        rest_idle_timeout_s=args.rest_idle_timeout_s, max_batch_size=args.max_batch_size,
        max_tensor_bytes=args.max_tensor_bytes, request_limits_file=args.request_limits_file,
        deadline_margin_ms=args.deadline_margin_ms,
        auth_token=args.auth_token, tokens_file=args.tokens_file,
        jwt_public_key=args.jwt_public_key, jwt_jwks_file=args.jwt_jwks_file,
        jwt_audience=args.jwt_audience, jwt_issuer=args.jwt_issuer,
        audit_log=args.audit_log, redaction_policy_dir=args.search_index,
        max_request_bytes=args.max_request_bytes,
        ssl_cert_file=args.ssl_cert_file, ssl_key_file=args.ssl_key_file)


def use_main_job_defaults(args) -> None:
    """No model flags: serve what `lepton-tf main` builds, where it builds it.

    Writes `runs/main/models.config` for `saved_models/{encoder,intent,chat}`
    and `saved_models/dst` when it is there (as the main job does) and serves `indexes/stackfaq` as `search` when no
    `--search_index` is given and it exists.
    """
    from lepton_tf.commands.product import (DEFAULT_BASE_DIR, DEFAULT_INDEX_DIR, default_request_limits,
                                            served_names, write_models_config)

    names = served_names(DEFAULT_BASE_DIR)
    args.model_config_file = write_models_config(DEFAULT_BASE_DIR, names)
    if args.request_limits_file is None:
        args.request_limits_file = default_request_limits()
    if args.search_index is None and os.path.isdir(DEFAULT_INDEX_DIR):
        args.search_index = DEFAULT_INDEX_DIR
    print(f"lepton-tf serve: no --model_config_file or --model_base_path: serving what "
          f"`lepton-tf main` builds ({', '.join(names)} from {DEFAULT_BASE_DIR}/, "
          f"search from {args.search_index or 'nowhere: no index'}; config "
          f"{args.model_config_file})", flush=True)


def build_server(args):
    """The `ModelServer` the flags describe (not started).

    Raises:
        ValueError: inconsistent flags.
    """
    from lepton_tf.server.app import ModelServer
    from lepton_tf.search.wiring import search_index_source

    shard = getattr(args, "search_shard", None)
    shards = [t for t in (getattr(args, "search_shards", None) or "").split(",") if t]
    if shard is not None and not args.search_index:
        raise ValueError("--search-shard N needs --search_index (the sharded index base).")
    if shards and args.search_index:
        raise ValueError("Give --search_index or --search-shards, not both.")
    if args.search_only and not ((args.search_index or shards) and args.tf_serving):
        raise ValueError("--search-only needs --search_index (or --search-shards) and "
                         "--tf-serving HOST:PORT.")
    if args.tf_serving and not args.search_only:
        raise ValueError("--tf-serving is only used with --search-only.")
    if shard is None and not args.search_only and not (args.model_base_path
                                                       or args.model_config_file):
        use_main_job_defaults(args)
    if args.model_base_path and args.model_config_file:
        raise ValueError("Give --model_base_path or --model_config_file, not both.")
    server = ModelServer(options_from_args(args))
    root = None
    if args.tf_serving_ca_file:
        with open(args.tf_serving_ca_file, "rb") as f:
            root = f.read()
    tls = {"tls": True, "root_certificates": root} if root else {}
    # The token this server shows --tf-serving and --search-shards: from the
    # environment, never a flag (command lines are visible to every local user).
    if os.environ.get(UPSTREAM_TOKEN_ENV):
        tls["token"] = os.environ[UPSTREAM_TOKEN_ENV]
    remote = args.tf_serving if args.search_only else None
    if shard is not None:
        from lepton_tf.search.shards import MODEL, shard_source

        server.register_polled_python_servable(MODEL, *shard_source(args.search_index, shard))
    elif args.search_index:
        server.register_polled_python_servable("search", *search_index_source(
            args.search_index, remote=remote, **tls))
    if shards:
        from lepton_tf.search.wiring import remote_shards_factory

        server.register_python_servable("search", remote_shards_factory(
            shards, remote=remote, k=args.search_k, **tls))
    if getattr(args, "assistant", False):
        from lepton_tf.assistant.mount import mount_assistant

        task_db = getattr(args, "task_db", None)
        if task_db is None and os.path.isfile(DEFAULT_TASK_DB):
            task_db = DEFAULT_TASK_DB  # what `lepton-tf main` built
        skills = getattr(args, "skills", None)
        mount_assistant(server, knowledge_base=args.search_index, task_db=task_db or None,
                        task_config=getattr(args, "task_config", None),
                        skills=DEFAULT_SKILLS if skills is None else skills or None,
                        task_tracker=getattr(args, "task_tracker", "lookup"),
                        task_generator=getattr(args, "task_generator", "") or "",
                        routing_thresholds=getattr(args, "routing_thresholds", None),
                        store_url=conversation_store_url(args),
                        retention_days=args.conversation_retention_days or None,
                        audit_retention_days=audit_retention_days(args))
    return server


def audit_retention_days(args) -> float | None:
    """`--audit_retention_days`, checked (None: as the turns' retention).

    Raises:
        ValueError: 0 days or less, or given while the turns are kept forever
            (the purge that applies it would not run).
    """
    days = getattr(args, "audit_retention_days", None)
    if days is not None and days <= 0:
        raise ValueError("--audit_retention_days must be > 0.")
    if days is not None and not args.conversation_retention_days:
        raise ValueError("--audit_retention_days needs --conversation_retention_days > 0 "
                         "(a turn's audit record goes with its turn at the latest).")
    return days


STORE_URL_VARIABLE = "LEPTON_CONVERSATION_STORE"


def conversation_store_url(args) -> str | None:
    """The assistant's store: `--conversation_store` (a URL, a file path, or `none`),
    else `$LEPTON_CONVERSATION_STORE`, else a SQLite file beside the index
    (`indexes/stackfaq.conversations.sqlite`)."""
    from lepton_tf.store.conversation_store import sqlite_url

    # The environment keeps a password out of the command line (`ps`, a pod's args):
    # Kubernetes passes the URL from a Secret this way.
    given = getattr(args, "conversation_store", None) or os.environ.get(STORE_URL_VARIABLE)
    if given and given.lower() == "none":
        return None
    if given and "://" in given:
        return given
    if given:
        return sqlite_url(given)
    base = os.path.normpath(args.search_index) if args.search_index else "conversations"
    return sqlite_url(base + (".conversations.sqlite" if args.search_index else ".sqlite"))


def run(args) -> int:
    from lepton_tf.commands.serve_progress import attach_load_progress, ready_line
    from lepton_tf.server.ports import check_ports_free

    # Before a minute of loading: a port still held by another server is
    # reported now, in one line.
    check_ports_free(args.host, {"gRPC": args.port, "REST": args.rest_api_port})
    print("lepton-tf serve: loading TensorFlow and the models ...", flush=True)
    attach_load_progress()
    from lepton_tf.server.tf_runtime import configure_tensorflow

    configure_tensorflow(args.tensorflow_intra_op_parallelism,
                         args.tensorflow_inter_op_parallelism)
    server = build_server(args).start()
    print(ready_line(args.host, server.grpc_port, server.rest_port,
                     page=bool(getattr(args, "assistant", False)),
                     tls=bool(args.ssl_cert_file)), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server._stop.set())
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


def register(sub) -> None:
    from lepton_tf.commands.parsers import add_documented

    p = add_documented(sub, "serve", "serve models over TF Serving's gRPC and REST APIs", __doc__)
    tf = p.add_argument_group("TF Serving flags (same names and meanings)")
    tf.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    tf.add_argument("--rest_api_port", type=int, default=8501,
                    help="REST port (default 8501; 0 disables REST)")
    tf.add_argument("--model_name", default="default",
                    help="name of the model of --model_base_path (default \"default\")")
    tf.add_argument("--model_base_path", help="folder of numbered versions of one model")
    tf.add_argument("--model_config_file",
                    help="models.config (ModelServerConfig text proto); with neither this "
                         "nor --model_base_path: what `lepton-tf main` builds")
    tf.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0,
                    help="re-read the config file this often (0: never)")
    tf.add_argument("--file_system_poll_wait_seconds", type=float, default=1,
                    help="look for new/removed versions this often (0: only at start)")
    tf.add_argument("--enable_batching", type=_bool, nargs="?", const=True, default=False,
                    help="batch concurrent requests (see --batching_parameters_file)")
    tf.add_argument("--batching_parameters_file", help="BatchingParameters text proto")
    tf.add_argument("--monitoring_config_file",
                    help="MonitoringConfig text proto (enables Prometheus metrics)")
    tf.add_argument("--enable_model_warmup", type=_bool, nargs="?", const=True, default=True,
                    help="replay assets.extra/tf_serving_warmup_requests at load (default true)")
    tf.add_argument("--rest_api_timeout_in_ms", type=int, default=30000,
                    help="deadline of a REST request (0: none)")
    tf.add_argument("--enable_signature_method_name_check", type=_bool, nargs="?", const=True,
                    default=False,
                    help="refuse Classify/Regress (and Predict) on a signature whose "
                         "method_name is not theirs (default false, as TF Serving)")
    tf.add_argument("--grpc_socket_path", help="also serve gRPC on this UNIX domain socket")
    tf.add_argument("--grpc_channel_arguments", default="",
                    help="gRPC server arguments, e.g. grpc.max_connection_age_ms=2000")
    tf.add_argument("--grpc_max_threads", type=int, default=64,
                    help="gRPC worker threads (default 64: every request in flight, also "
                         "one waiting for a batch, holds one)")
    tf.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                    help="threads one op may use (0: the number of cores)")
    tf.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0,
                    help="ops run at once (0: TensorFlow's choice)")
    own = p.add_argument_group("lepton-tf options")
    own.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default 127.0.0.1; 0.0.0.0 for all)")
    own.add_argument("--search_index", help="ScaNN index folder: host the `search` servable")
    own.add_argument("--search-shard", type=int, metavar="N",
                     help="host `search_shard`: shard N of each sharded version under "
                          "--search_index, searched by query vector (no models needed)")
    own.add_argument("--search-shards", metavar="HOST:PORT,...",
                     help="host `search` over these shard servers (in shard order): "
                          "embed once, scatter over gRPC, merge the top-k")
    own.add_argument("--search-k", type=int, default=10,
                     help="default k of `search` over --search-shards")
    own.add_argument("--search-only", action="store_true",
                     help="host only `search`, embedding queries on --tf-serving")
    own.add_argument("--tf-serving", metavar="HOST:PORT",
                     help="TF Serving hosting the `encoder` (with --search-only)")
    own.add_argument("--tf-serving-ca-file", help="CA certificate to reach --tf-serving by TLS")
    own.add_argument("--assistant", action="store_true",
                     help="host the `assistant` (calls intent, search, chat, encoder in "
                          "process), its streaming gRPC method, POST /v1/assistant:stream "
                          "and the web page at / on the REST port")
    own.add_argument("--task_db", default=None,
                     help="the task services' SQLite database (default "
                          f"{DEFAULT_TASK_DB} when it exists; '' for no task dialogues)")
    own.add_argument("--task_config", default=None,
                     help="which backend serves which intent (default "
                          "configs/dialogue/backends.yaml)")
    own.add_argument("--task_tracker", choices=("lookup", "dst"), default="lookup",
                     help="the task dialogues' state tracker: lookup tables over the database "
                          "(default) or the hosted `dst` model")
    own.add_argument("--task_generator", default="", metavar="MODEL",
                     help="write task replies with this hosted reply generator (`lepton-tf "
                          "train reply_generator`), each checked against the acts and "
                          "replaced by the template when a value is dropped or added "
                          "(default: template replies)")
    own.add_argument("--skills", default=None,
                     help="what the intent model's intents do (default "
                          "configs/skills/banking77.yaml: hand-offs and a transfer task; "
                          "'' to refuse them)")
    own.add_argument("--routing_thresholds", metavar="FILE", default=None,
                     help="the assistant's routing thresholds, as `lepton-tf eval routing "
                          "--write FILE` measured them (default: the shipped ones)")
    own.add_argument("--conversation_store", metavar="URL|PATH|none",
                     help="where the assistant keeps sessions, the turn log and feedback: "
                          "postgresql://user:password@host:5432/db, a SQLite file path or "
                          "sqlite:///path (default: $LEPTON_CONVERSATION_STORE if set, else "
                          "INDEX.conversations.sqlite beside --search_index), or none (memory only, no log, no feedback)")
    own.add_argument("--conversation_retention_days", type=float, default=90,
                     help="delete stored turns, feedback and sessions older than this "
                          "(default 90; 0 keeps everything)")
    own.add_argument("--audit_retention_days", type=float, metavar="DAYS",
                     help="delete the store's audit records older than this, in the same "
                          "hourly purge (default: --conversation_retention_days; an assistant "
                          "turn's record goes with its turn at the latest)")
    own.add_argument("--ssl_cert_file", help="TLS certificate (PEM) for gRPC and REST")
    own.add_argument("--ssl_key_file", help="TLS private key (PEM)")
    own.add_argument("--auth_token", help="require 'Authorization: Bearer TOKEN' (one shared "
                                          "token; its caller reads every document)")
    own.add_argument("--tokens_file", help="YAML principal: {token_sha256: HEX, groups: [..], "
                                           "admin_of: [..]}; reloaded when it changes")
    own.add_argument("--jwt_public_key", help="PEM public key verifying callers' JWTs "
                                              "(principal: sub, groups: the groups claim)")
    own.add_argument("--jwt_jwks_file", help="a JWKS file of such keys (chosen by kid; "
                                             "reloaded when it changes)")
    own.add_argument("--audit_log", help="append an audit record per search and assistant "
                                         "turn (principal, redacted query, documents "
                                         "returned, permission decision) to this JSONL file; "
                                         "admins read it at GET /v1/audit")
    own.add_argument("--jwt_audience", help="the aud a JWT must carry")
    own.add_argument("--jwt_issuer", help="the iss a JWT must carry")
    own.add_argument("--max_batch_size", type=int, default=8192,
                     help="rows one request may carry (default 8192; 0: no limit)")
    own.add_argument("--max_tensor_bytes", type=int, default=256 * 1024 * 1024,
                     help="bytes a request's inputs may expand to (default 256 MiB), "
                          "checked before they are decoded")
    own.add_argument("--deadline_margin_ms", type=int, default=0,
                     help="start work expected to end at most this long past its deadline "
                          "(default 0: such work is refused, DEADLINE_EXCEEDED at once)")
    own.add_argument("--request_limits_file",
                     help="per-model limits, JSON/YAML: {\"models\": {\"chat\": "
                          "{\"max_batch_size\": 32, \"max_execution_batch_size\": 8}}}")
    own.add_argument("--rest_max_threads", type=int, default=64,
                     help="REST requests computed at once (more wait, under their deadline)")
    own.add_argument("--rest_max_connections", type=int, default=1024,
                     help="open REST connections at most (more are answered 503)")
    own.add_argument("--rest_idle_timeout_s", type=float, default=30.0,
                     help="close a REST connection idle, or mid-request, this long")
    own.add_argument("--max_request_bytes", type=int, default=64 * 1024 * 1024,
                     help="largest gRPC message / REST body accepted (default 64 MiB)")
    p.set_defaults(fn=run)
