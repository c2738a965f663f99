"""`lepton-tf index`: corpus -> embeddings -> a new ScaNN index version.

    lepton-tf index                              # build from the default corpus
    lepton-tf index --add more.jsonl             # new version: latest + these documents
    lepton-tf index --delete ID [ID ...]         # new version: latest - these ids
    lepton-tf index --tune pairs.jsonl           # fusion weight chosen on your pairs
"""

import os

from lepton_tf.index.fusion import DEFAULT_DENSE_WEIGHT

DEFAULT_INDEX_DIR = os.path.join("indexes", "stackfaq")
DEFAULT_CORPUS = os.path.join("data", "beir", "stackfaq")
DEFAULT_ENCODER = os.path.join("saved_models", "encoder")


def update_index(index_dir: str, encoder_path: str, add: str | None = None,
                 delete: list[str] | None = None, tune_pairs: str | None = None) -> str:
    """Writes a new index version: the latest one with documents added
    (upserted by id) and/or deleted, without rebuilding the searcher, and
    the fusion weight re-tuned when `tune_pairs` is given."""
    from lepton_tf.index.build import read_corpus, tune
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import load_index, save_index

    encoder = SavedModelEncoder(encoder_path)
    index = load_index(index_dir, expected_encoder=encoder.info)
    if delete:
        index.delete(delete)
    if add:
        documents = read_corpus(add)
        index.upsert(documents, encoder.encode_documents([d.embedding_text() for d in documents]))
    if index.lexical is None:
        index.rebuild_lexical()  # an index from before hybrid search gains its BM25 part
    if tune_pairs:
        tune(index, tune_pairs, encoder)
    path = save_index(index, index_dir)
    print(f"Index now {len(index)} documents -> {path}")
    return path


def run(args) -> int:
    if args.add or args.delete or args.retune:
        if args.retune and not args.tune:
            raise SystemExit("lepton-tf index: --retune needs --tune PAIRS.")
        update_index(args.out, args.encoder, args.add, args.delete, args.tune)
        return 0
    from lepton_tf.index.build import build_index
    from lepton_tf.index.fusion import FusionConfig

    fusion = FusionConfig(args.fusion, args.dense_weight)
    build_index(args.corpus, args.encoder, args.out, k=args.k, version=args.version,
                tune_pairs=args.tune, fusion=fusion)
    return 0


def register(sub) -> None:
    p = sub.add_parser("index", help="build or update a ScaNN index version")
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="BEIR folder or JSONL of {_id, title, text, metadata}")
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help="encoder SavedModel (version folder or base; latest version)")
    p.add_argument("--out", default=DEFAULT_INDEX_DIR, help="index base folder")
    p.add_argument("--k", type=int, default=10, help="default number of results")
    p.add_argument("--version", type=int)
    p.add_argument("--add", help="JSONL/BEIR documents to add or replace (by id)")
    p.add_argument("--delete", nargs="+", metavar="ID", help="document ids to delete")
    p.add_argument("--tune", metavar="PAIRS",
                   help="JSONL of {query, positive}: choose the hybrid fusion weight on them "
                        "(positive = a document's id, text, or title + text)")
    p.add_argument("--retune", action="store_true",
                   help="with --tune: re-tune the latest version (new version, same documents)")
    p.add_argument("--fusion", choices=("convex", "rrf"), default="convex",
                   help="hybrid fusion: convex combination of min-max scores, or weighted RRF")
    p.add_argument("--dense-weight", type=float, default=DEFAULT_DENSE_WEIGHT,
                   help="hybrid dense weight without --tune (0: BM25 only, 1: dense only)")
    p.set_defaults(fn=run)
