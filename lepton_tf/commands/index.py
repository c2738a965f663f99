"""`lepton-tf index`: corpus -> embeddings -> a new ScaNN index version.

    lepton-tf index                              # build from the default corpus
    lepton-tf index --corpus ~/notes --out indexes/notes
                                                 # a folder of .md .txt .html .pdf
                                                 # .jsonl .csv files; run again after
                                                 # edits: only changed files re-encoded
    lepton-tf index --add more.jsonl             # new version: latest + these documents
    lepton-tf index --delete ID [ID ...]         # new version: latest - these ids
"""

import os

DEFAULT_INDEX_DIR = os.path.join("indexes", "stackfaq")
DEFAULT_CORPUS = os.path.join("data", "beir", "stackfaq")
DEFAULT_ENCODER = os.path.join("saved_models", "encoder")


def update_index(index_dir: str, encoder_path: str, add: str | None = None,
                 delete: list[str] | None = None) -> str:
    """Writes a new index version: the latest one with documents added
    (upserted by id) and/or deleted, without rebuilding the searcher."""
    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import load_index, save_index

    encoder = SavedModelEncoder(encoder_path)
    index = load_index(index_dir, expected_encoder=encoder.info)
    if delete:
        index.delete(delete)
    if add:
        documents = read_corpus(add)
        index.upsert(documents, encoder.encode_documents([d.embedding_text() for d in documents]))
    path = save_index(index, index_dir)
    print(f"Index now {len(index)} documents -> {path}")
    return path


def index_folder(args, encoder=None) -> int:
    """`--corpus DIR` of files: chunk, encode what changed, publish a version.

    Returns:
        0, or 1 when `--strict` met a file that cannot be parsed.
    """
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.folder_build import build_folder_index
    from lepton_tf.ingest import ChunkConfig, ParseError

    if args.version is not None:
        raise SystemExit("lepton-tf index: --version is for BEIR/JSONL builds; a folder "
                         "index always writes the next version.")
    out = args.out or os.path.join("indexes", os.path.basename(os.path.abspath(args.corpus)))
    config = ChunkConfig(max_tokens=args.chunk_tokens, overlap=args.chunk_overlap)
    try:
        build_folder_index(args.corpus, out, encoder or SavedModelEncoder(args.encoder),
                           config=config, k=args.k, strict=args.strict, rebuild=args.rebuild)
    except ParseError as e:
        print(f"lepton-tf index: {e} (--strict: nothing written)")
        return 1
    return 0


def run(args) -> int:
    from lepton_tf.index.build import is_file_folder

    out = args.out or DEFAULT_INDEX_DIR
    if args.add or args.delete:
        update_index(out, args.encoder, args.add, args.delete)
        return 0
    if is_file_folder(args.corpus):
        return index_folder(args)
    from lepton_tf.index.build import build_index

    build_index(args.corpus, args.encoder, out, k=args.k, version=args.version)
    return 0


def register(sub) -> None:
    p = sub.add_parser("index", help="build or update a ScaNN index version")
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="a folder of .md/.txt/.html/.pdf/.jsonl/.csv files (chunked, "
                        "incremental), a BEIR folder, or JSONL of {_id, title, text, metadata}")
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help="encoder SavedModel (version folder or base; latest version)")
    p.add_argument("--out", help=f"index base folder (default {DEFAULT_INDEX_DIR}; for a "
                                 "folder of files, indexes/<folder name>)")
    p.add_argument("--k", type=int, default=10, help="default number of results")
    p.add_argument("--version", type=int,
                   help="index version to write (default: the next free one)")
    p.add_argument("--add", help="JSONL/BEIR documents to add or replace (by id)")
    p.add_argument("--delete", nargs="+", metavar="ID", help="document ids to delete")
    files = p.add_argument_group("a folder of files")
    files.add_argument("--chunk-tokens", type=int, default=200,
                       help="encoder word pieces a passage holds at most")
    files.add_argument("--chunk-overlap", type=int, default=40,
                       help="word pieces consecutive passages share")
    files.add_argument("--strict", action="store_true",
                       help="a file that cannot be parsed is fatal (default: skip, report)")
    files.add_argument("--rebuild", action="store_true",
                       help="re-encode every file (ignore the previous version)")
    p.set_defaults(fn=run)
