"""`lepton-tf index`: corpus -> embeddings -> a new ScaNN index version."""

import os

DEFAULT_INDEX_DIR = os.path.join("indexes", "stackfaq")
DEFAULT_CORPUS = os.path.join("data", "beir", "stackfaq")
DEFAULT_ENCODER = os.path.join("saved_models", "encoder")


def run(args) -> int:
    from lepton_tf.index.build import build_index

    build_index(args.corpus, args.encoder, args.out, k=args.k, version=args.version)
    return 0


def register(sub) -> None:
    p = sub.add_parser("index", help="build a ScaNN index version for a corpus")
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="BEIR folder or JSONL of {_id, title, text, metadata}")
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help="encoder SavedModel (version folder or base; latest version)")
    p.add_argument("--out", default=DEFAULT_INDEX_DIR, help="index base folder")
    p.add_argument("--k", type=int, default=10, help="default number of results")
    p.add_argument("--version", type=int)
    p.set_defaults(fn=run)
