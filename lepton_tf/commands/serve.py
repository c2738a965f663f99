"""`lepton-tf serve`: a drop-in for `tensorflow_model_server`.

TF Serving's flags keep their names, defaults and meanings (so a script can
swap the binary for this command); lepton-tf's own options have their own
names: `--host`, `--search_index`, `--search-only`, `--tf-serving`, TLS,
`--auth_token`, `--max_request_bytes`.
"""

from __future__ import annotations

import argparse
import signal


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
        grpc_max_threads=args.grpc_max_threads, host=args.host,
        auth_token=args.auth_token, max_request_bytes=args.max_request_bytes,
        ssl_cert_file=args.ssl_cert_file, ssl_key_file=args.ssl_key_file)


def build_server(args):
    """The `ModelServer` the flags describe (not started).

    Raises:
        ValueError: inconsistent flags.
    """
    from lepton_tf.server.app import ModelServer
    from lepton_tf.server.search_wiring import search_index_source

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
        raise ValueError("Give --model_base_path (with --model_name) or --model_config_file.")
    if args.model_base_path and args.model_config_file:
        raise ValueError("Give --model_base_path or --model_config_file, not both.")
    server = ModelServer(options_from_args(args))
    root = None
    if args.tf_serving_ca_file:
        with open(args.tf_serving_ca_file, "rb") as f:
            root = f.read()
    tls = {"tls": True, "root_certificates": root} if root else {}
    remote = args.tf_serving if args.search_only else None
    if shard is not None:
        from lepton_tf.server.search_shards import MODEL, shard_source

        server.register_polled_python_servable(MODEL, *shard_source(args.search_index, shard))
    elif args.search_index:
        server.register_polled_python_servable("search", *search_index_source(
            args.search_index, remote=remote, **tls))
    if shards:
        from lepton_tf.server.search_wiring import remote_shards_factory

        server.register_python_servable("search", remote_shards_factory(
            shards, remote=remote, k=args.search_k, **tls))
    if getattr(args, "assistant", False):
        from lepton_tf.assistant.mount import mount_assistant

        mount_assistant(server)
    return server


def run(args) -> int:
    from lepton_tf.server.tf_runtime import configure_tensorflow

    configure_tensorflow(args.tensorflow_intra_op_parallelism,
                         args.tensorflow_inter_op_parallelism)
    server = build_server(args).start()
    print(f"lepton-tf serve: gRPC on {args.host}:{server.grpc_port}"
          + (f", REST on {args.host}:{server.rest_port}" if server.rest_port else ""),
          flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server._stop.set())
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve models over TF Serving's gRPC and REST APIs",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    tf = p.add_argument_group("TF Serving flags (same names and meanings)")
    tf.add_argument("--port", type=int, default=8500, help="gRPC port (default 8500)")
    tf.add_argument("--rest_api_port", type=int, default=8501,
                    help="REST port (default 8501; 0 disables REST)")
    tf.add_argument("--model_name", default="default")
    tf.add_argument("--model_base_path", help="folder of numbered versions of one model")
    tf.add_argument("--model_config_file", help="models.config (ModelServerConfig text proto)")
    tf.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0,
                    help="re-read the config file this often (0: never)")
    tf.add_argument("--file_system_poll_wait_seconds", type=float, default=1,
                    help="look for new/removed versions this often (0: only at start)")
    tf.add_argument("--enable_batching", type=_bool, nargs="?", const=True, default=False)
    tf.add_argument("--batching_parameters_file", help="BatchingParameters text proto")
    tf.add_argument("--monitoring_config_file",
                    help="MonitoringConfig text proto (enables Prometheus metrics)")
    tf.add_argument("--enable_model_warmup", type=_bool, nargs="?", const=True, default=True)
    tf.add_argument("--rest_api_timeout_in_ms", type=int, default=30000,
                    help="deadline of a REST request (0: none)")
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
    own.add_argument("--ssl_cert_file", help="TLS certificate (PEM) for gRPC and REST")
    own.add_argument("--ssl_key_file", help="TLS private key (PEM)")
    own.add_argument("--auth_token", help="require 'Authorization: Bearer TOKEN'")
    own.add_argument("--max_request_bytes", type=int, default=64 * 1024 * 1024,
                     help="largest gRPC message / REST body accepted (default 64 MiB)")
    p.set_defaults(fn=run)
