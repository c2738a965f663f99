"""`lepton-tf train MODEL` and `lepton-tf export MODEL` (the library side is
`lepton_tf.tasks.registry`)."""

from __future__ import annotations

from lepton_tf.tasks.registry import (DEFAULT_BASE_DIR, EXPORT_PRECISIONS,
                                      check_export_precision, discover, export_run, train)


def run_train(args) -> int:
    train(args.model, config_path=args.config, base_dir=args.base_dir, export=args.export,
          output_dir=args.output_dir, strategy=args.strategy, epochs=args.epochs,
          seed=args.seed)
    return 0


def run_export(args) -> int:
    check_export_precision(args.model, args.precision)  # before any model is built
    if args.zero_shot:
        return _export_zero_shot(args)
    if args.from_saved_model:
        if args.model != "chat" or not args.config:
            raise ValueError("--from-saved-model re-exports `chat` and needs --config.")
        from lepton_tf.tasks.chat import TRAINABLE
        from lepton_tf.tasks.chat_restore import chat_model_from_saved_model

        model, task, config = chat_model_from_saved_model(args.from_saved_model, args.config)
        path = TRAINABLE.export(model, task, config, args.base_dir, args.version)
        print(f"Re-exported {args.from_saved_model} -> {path}")
        return 0
    if not args.run:
        raise ValueError("Give --run (or, for chat, --from-saved-model with --config).")
    if args.weights_file:
        return _write_dst_weights(args)
    export_run(args.model, args.run, args.base_dir, args.version, args.checkpoint,
               args.precision)
    return 0


def _export_zero_shot(args) -> int:
    """`--zero-shot`: all-MiniLM-L6-v2 as it is, the encoder `lepton-tf main` builds."""
    if args.model != "encoder" or args.run or args.from_saved_model:
        raise ValueError("--zero-shot exports the encoder, without --run or --from-saved-model.")
    from lepton_tf.tasks.encoder import export_zero_shot

    path = export_zero_shot(args.base_dir, args.version, args.precision)
    print(f"Exported zero-shot encoder ({args.precision}) -> {path}")
    return 0


def _write_dst_weights(args) -> int:
    """`--weights-file`: the run's trained variables as the small file the package ships."""
    import shlex
    import sys

    from lepton_tf.tasks.dst_weights import save_tracker_weights
    from lepton_tf.tasks.registry import restore_run

    if args.model != "dst":
        raise ValueError("--weights-file writes the `dst` tracker's trained weights only.")
    model, task, _ = restore_run(args.model, args.run, args.checkpoint)
    command = "lepton-tf " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = save_tracker_weights(model, task.section, args.weights_file, made_by=command)
    print(f"Wrote the trained dst weights ({len(model.trainable_variables)} variables, float16) -> {path}")
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
    p.add_argument("--run", help="the run's output_dir")
    p.add_argument("--from-saved-model", help="chat: take the weights of this exported "
                                              "version instead (with --config)")
    p.add_argument("--config", help="the training config of --from-saved-model")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder (default {DEFAULT_BASE_DIR})")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")
    p.add_argument("--checkpoint", help="export this step backup or epoch checkpoint of the run "
                                        "(e.g. runs/dst/backup/ckpt-400) instead of its final weights")
    # Checked by the command, not argparse `choices`: a wrong value is one line.
    p.add_argument("--precision", default="float32",
                   help=f"encoder: {' or '.join(EXPORT_PRECISIONS)} (default float32). "
                        "bfloat16 runs the matrix products in bfloat16, signatures stay "
                        "float32: faster indexing on CPUs with bfloat16 kernels, see "
                        "docs/export-and-serve.md")
    p.add_argument("--zero-shot", action="store_true",
                   help="encoder: export all-MiniLM-L6-v2 as it is (no --run), as "
                        "`lepton-tf main` does")
    p.add_argument("--weights-file", help="dst: write the trained variables (float16 .npz, what the "
                                          "package ships) instead of exporting")
    p.set_defaults(fn=run_export)
