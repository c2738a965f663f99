"""`lepton-tf train MODEL` and `lepton-tf export MODEL` (the library side is
`lepton_tf.tasks.registry`)."""

from __future__ import annotations

from lepton_tf.tasks.registry import DEFAULT_BASE_DIR, discover, export_run, train


def run_train(args) -> int:
    train(args.model, config_path=args.config, base_dir=args.base_dir, export=args.export,
          output_dir=args.output_dir, strategy=args.strategy, epochs=args.epochs,
          seed=args.seed)
    return 0


def run_export(args) -> int:
    export_run(args.model, args.run, args.base_dir, args.version)
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model through the tf.distribute trainer")
    p.add_argument("model", choices=discover(), help="the model to train")
    p.add_argument("--config", help="YAML config (default configs/<model>.yaml)")
    p.add_argument("--output-dir", help="run folder (default: the config's output_dir)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
                   help="tf.distribute strategy (default: the config's)")
    p.add_argument("--epochs", type=int, help="epochs to train (default: the config's)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's)")
    p.add_argument("--export", action="store_true", help="export the trained servable")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder to export into (default {DEFAULT_BASE_DIR})")
    p.set_defaults(fn=run_train)

    p = sub.add_parser("export", help="export a trained run as a TF Serving version")
    p.add_argument("model", choices=discover(), help="the model to export")
    p.add_argument("--run", required=True, help="the run's output_dir")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder (default {DEFAULT_BASE_DIR})")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")
    p.set_defaults(fn=run_export)
