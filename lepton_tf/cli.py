"""`lepton-tf`: the command line over the package.

    lepton-tf vocab chat [--out vocab/chat-v1.txt]
    lepton-tf train intent --config configs/intent.yaml [--strategy S]
    lepton-tf export intent --run runs/intent [--base-dir saved_models]
    lepton-tf main          build whatever is missing, end to end
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

DEFAULT_BASE_DIR = "saved_models"
DEFAULT_CHAT_VOCAB = os.path.join("vocab", "chat-v1.txt")
CONFIGS = {"intent": os.path.join("configs", "intent.yaml")}


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_vocab(args) -> int:
    from lepton_tf.data import read_sgd_dialogues
    from lepton_tf.text import build_chat_vocab
    from lepton_tf.text.vocab_io import save_vocab

    if os.path.exists(args.out) and not args.force:
        print(f"{args.out} exists; pass --force to rebuild it.")
        return 0
    texts = [t.utterance for d in read_sgd_dialogues("train") for t in d.turns]
    start = time.time()
    vocab = build_chat_vocab(texts, vocab_size=args.size, seed=args.seed)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    save_vocab(vocab, args.out)
    print(f"Chat vocabulary: {len(vocab)} tokens from {len(texts)} SGD train turns "
          f"in {time.time() - start:.0f} s -> {args.out}")
    return 0


def _task(name: str):
    if name == "intent":
        from lepton_tf.tasks.intent import IntentTask
        return IntentTask()
    raise SystemExit(f"Unknown model {name!r}; available: {sorted(CONFIGS)}.")


def cmd_train(args) -> int:
    from lepton_tf.training import Trainer, load_config

    config = load_config(args.config or CONFIGS[args.model], output_dir=args.output_dir,
                         strategy=args.strategy, epochs=args.epochs, seed=args.seed)
    task = _task(args.model)
    trainer = Trainer(config, verbose=2)
    model = trainer.fit(task)
    if trainer.chief:
        path = os.path.join(config.output_dir, "final.weights.h5")
        model.save_weights(path)
        print(f"Trained {args.model}: weights in {path}")
        if args.export:
            _export(args.model, config, task, model, args.base_dir, None)
    return 0


def _export(name, config, task, model, base_dir, version) -> str:
    from lepton_tf.models.intent_servable import export_intent

    path = export_intent(model, task._tokenizer(config), task.labels, base_dir=base_dir,
                         name=config.name, version=version)
    print(f"Exported {name} -> {path}")
    return path


def cmd_export(args) -> int:
    from lepton_tf.training import load_config

    config = load_config(os.path.join(args.run, "config.yaml"))
    task = _task(args.model)
    model = task.build_model(config)
    model.load_weights(os.path.join(args.run, "final.weights.h5"))
    _export(args.model, config, task, model, args.base_dir, args.version)
    return 0


def cmd_main(args) -> int:
    """Builds what is missing: the chat vocabulary, the intent servable."""
    from lepton_tf.export import list_versions

    start = time.time()
    if not os.path.exists(DEFAULT_CHAT_VOCAB):
        cmd_vocab(argparse.Namespace(out=DEFAULT_CHAT_VOCAB, size=8000, seed=0, force=False))
    else:
        print(f"Chat vocabulary present: {DEFAULT_CHAT_VOCAB}")
    if list_versions(args.base_dir, "intent"):
        print(f"intent servable present: {args.base_dir}/intent/"
              f"{list_versions(args.base_dir, 'intent')[-1]}")
    else:
        cmd_train(argparse.Namespace(model="intent", config=None, output_dir=None,
                                     strategy=None, epochs=None, seed=None, export=True,
                                     base_dir=args.base_dir))
    print(f"Main job done in {time.time() - start:.0f} s.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lepton-tf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("vocab", help="learn the cased chat WordPiece vocabulary")
    p.add_argument("which", choices=["chat"])
    p.add_argument("--out", default=DEFAULT_CHAT_VOCAB)
    p.add_argument("--size", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_vocab)

    p = sub.add_parser("train", help="train a model through the tf.distribute trainer")
    p.add_argument("model", choices=sorted(CONFIGS))
    p.add_argument("--config", help="YAML config (default configs/<model>.yaml)")
    p.add_argument("--output-dir")
    p.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--export", action="store_true", help="export the trained servable")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("export", help="export a trained run as a TF Serving version")
    p.add_argument("model", choices=sorted(CONFIGS))
    p.add_argument("--run", required=True, help="the run's output_dir")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.add_argument("--version", type=int)
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("main", help="build every missing model, end to end")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.set_defaults(fn=cmd_main)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_tensorflow()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"lepton-tf {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
