"""`lepton-tf main`: build whatever is missing, then run the product end to end."""

import time

from lepton_tf.commands.train import DEFAULT_BASE_DIR


def run(args) -> int:
    from lepton_tf.commands.vocab import build_chat_vocab_file
    from lepton_tf.commands.train import train
    from lepton_tf.export import list_versions

    start = time.time()
    build_chat_vocab_file()
    versions = list_versions(args.base_dir, "intent")
    if versions:
        print(f"intent servable present: {args.base_dir}/intent/{versions[-1]}")
    else:
        train("intent", base_dir=args.base_dir, export=True)
    print(f"Main job done in {time.time() - start:.0f} s.")
    return 0


def register(sub) -> None:
    p = sub.add_parser("main", help="build every missing model, then run the product")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR)
    p.set_defaults(fn=run)
