"""`lepton-tf index`: corpus -> embeddings -> a new ScaNN index version.

    lepton-tf index                              # build from the default corpus
    lepton-tf index --corpus ~/notes --out indexes/notes
                                                 # a folder of .md .txt .html .pdf
                                                 # .jsonl .csv files; run again after
                                                 # edits: only changed files re-encoded
    lepton-tf index --corpus ~/kb --acl acl.yaml # document permissions: path globs -> groups
                                                 # (a changed ACL alone re-encodes nothing)
    lepton-tf index --add more.jsonl             # new version: latest + these documents
    lepton-tf index --delete ID [ID ...]         # new version: latest - these ids
    lepton-tf index --tune pairs.jsonl           # fusion weight chosen on your pairs
                                                 # (without: on held-out titles / spans
                                                 # of the corpus, index.fusion_selftune)
    lepton-tf index --questions train            # a BEIR split's queries as the documents'
                                                 # known questions (the not-found rule's
                                                 # best signal; JSONL: "questions": [...])
    lepton-tf index --dense-weight 0.85          # a fixed weight instead
    lepton-tf index --retune [--tune pairs.jsonl]  # choose the latest version's weight again
    lepton-tf index --runner direct --num-shards 4 --direct_num_workers=2 \
        --direct_running_mode=multi_processing   # Beam pipeline, sharded version
    lepton-tf index --runner flink --num-shards 64 --flink_master=HOST:8081 ...

Flags this command does not know are Beam pipeline options, passed through
to the runner (docs/deploy.md shows them for Flink, Spark and Dataflow).
"""

import os

from lepton_tf.index.build import DEFAULT_INDEX_DIR

DEFAULT_CORPUS = os.path.join("data", "beir", "stackfaq")
DEFAULT_ENCODER = os.path.join("saved_models", "encoder")


def _fixed_fusion(args):
    """The `FusionConfig` of `--dense-weight` (None without it: the weight is
    kept or tuned)."""
    from lepton_tf.index.fusion import FusionConfig

    if args.dense_weight is None:
        return None
    return FusionConfig(args.fusion, args.dense_weight, tuned_on="fixed (--dense-weight)")


def _acl(args):
    """The `--acl FILE` rules (None without the flag)."""
    from lepton_tf.index.permissions import AclRules

    return AclRules.load(args.acl) if getattr(args, "acl", None) else None


def _chunking(args):
    """The `ChunkConfig` of `--chunk-tokens` / `--chunk-overlap`."""
    from lepton_tf.ingest import ChunkConfig

    return ChunkConfig(max_tokens=args.chunk_tokens, overlap=args.chunk_overlap)


def index_folder(args, encoder=None) -> int:
    """`--corpus DIR` of files: chunk, encode what changed, tune, publish one version.

    Returns:
        0, or 1 when `--strict` met a file that cannot be parsed.
    """
    from lepton_tf.index.build import default_index_dir
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.folder_build import build_folder_index
    from lepton_tf.ingest import ParseError

    if args.version is not None:
        raise SystemExit("lepton-tf index: --version is for BEIR/JSONL builds; a folder "
                         "index always writes the next version.")
    acl = _acl(args)  # a bad ACL file fails before any model is loaded
    try:
        build_folder_index(args.corpus, args.out or default_index_dir(args.corpus),
                           encoder or SavedModelEncoder(args.encoder), config=_chunking(args),
                           k=args.k, strict=args.strict, rebuild=args.rebuild,
                           fusion=_fixed_fusion(args), method=args.fusion,
                           tune_pairs=args.tune, acl=acl)
    except ParseError as e:
        print(f"lepton-tf index: {e} (--strict: nothing written)")
        return 1
    return 0


def run(args) -> int:
    from lepton_tf.index.build import default_index_dir, is_file_folder

    extra = getattr(args, "extra", [])
    out = args.out or default_index_dir(args.corpus)
    folder = is_file_folder(args.corpus)
    if args.runner != "local":
        if args.add or args.delete:
            raise ValueError("--add/--delete update the latest version in process: "
                             "use them without --runner.")
        if args.tune or args.retune:
            raise ValueError("--tune/--retune choose the weight on one index's candidate "
                             "pools: use them without --runner (or give --dense-weight).")
        try:
            from lepton_tf.pipelines.index_pipeline import run_index_pipeline
        except ModuleNotFoundError as e:
            if e.name != "apache_beam":
                raise
            raise ValueError(f"--runner {args.runner} needs apache-beam: "
                             "pip install 'lepton-tf[beam]'.") from None
        run_index_pipeline(args.corpus, args.encoder, out, runner=args.runner,
                           num_shards=args.num_shards, k=args.k, version=args.version,
                           beam_args=extra, rebuild=args.rebuild, chunk_config=_chunking(args),
                           fusion=_fixed_fusion(args), method=args.fusion, acl=_acl(args))
        return _write_assistant_texts(out, args.corpus)
    if extra:
        raise ValueError(f"Beam options {' '.join(extra)} need --runner (not local).")
    if args.num_shards != 1:
        raise ValueError("--num-shards needs a Beam --runner (direct on this machine).")
    if getattr(args, "acl", None) and not folder:
        raise ValueError("--acl maps a folder's files to readers; JSONL/BEIR records carry "
                         "their own \"readers\": [...] field.")
    if args.questions and (args.add or args.delete or args.retune or folder):
        raise ValueError("--questions SPLIT is for building from a BEIR folder (documents "
                         "added with --add list theirs in a \"questions\" field).")
    if args.add or args.delete or args.retune:
        from lepton_tf.index.update import update_index

        update_index(out, args.encoder, args.add, args.delete, args.tune, retune=args.retune,
                     fusion=_fixed_fusion(args))
        return _write_assistant_texts(out, args.corpus)
    if folder:
        status = index_folder(args)
        return status or _write_assistant_texts(out, args.corpus)
    from lepton_tf.index.build import build_index
    from lepton_tf.index.fusion import FusionConfig

    build_index(args.corpus, args.encoder, out, k=args.k, version=args.version,
                tune_pairs=args.tune, fusion=_fixed_fusion(args) or FusionConfig(args.fusion),
                auto_tune=args.dense_weight is None, questions=args.questions)
    return _write_assistant_texts(out, args.corpus)


def _write_assistant_texts(index_dir: str, corpus: str) -> int:
    """Every index gets its `assistant.json` (kept when there is one); returns 0."""
    from lepton_tf.assistant import knowledge_base

    print(f"assistant texts: {knowledge_base.write_default(index_dir, corpus)} "
          "(edit it: description, greeting, refusal, not-found texts)")
    return 0


def register(sub) -> None:
    # No abbreviations: an unknown flag is a Beam option, never a prefix of ours.
    p = sub.add_parser("index", help="build or update a ScaNN index version", allow_abbrev=False)
    p.add_argument("--corpus", default=DEFAULT_CORPUS,
                   help="a folder of .md/.txt/.rst/.html/.pdf/.jsonl/.csv files (chunked, "
                        "incremental), a BEIR folder, or JSONL of {_id, title, text, metadata}")
    p.add_argument("--encoder", default=DEFAULT_ENCODER,
                   help="encoder SavedModel (version folder or base; latest version)")
    p.add_argument("--out", help=f"index base folder (default {DEFAULT_INDEX_DIR}; for a "
                                 "folder of files, indexes/<folder name>)")
    p.add_argument("--k", type=int, default=10, help="default number of results")
    p.add_argument("--version", type=int,
                   help="index version to write (default: the next free one)")
    p.add_argument("--add", help="JSONL/BEIR documents to add or replace (by id)")
    p.add_argument("--questions", metavar="SPLIT",
                   help="BEIR corpus: the queries of qrels/SPLIT.tsv (e.g. train; not the "
                        "split you evaluate on) become the known questions of the documents "
                        "they are judged relevant to (the not-found rule uses them)")
    p.add_argument("--delete", nargs="+", metavar="ID", help="document ids to delete")
    p.add_argument("--tune", metavar="PAIRS",
                   help="JSONL of {query, positive}: choose the hybrid fusion weight on them "
                        "(positive = a document's id, text, or title + text)")
    p.add_argument("--retune", action="store_true",
                   help="choose the latest version's fusion weight again (on --tune PAIRS, "
                        "else on pseudo-queries; new version, same documents). --add/--delete "
                        "and a changed folder keep the weight")
    p.add_argument("--fusion", choices=("convex", "rrf"), default="convex",
                   help="hybrid fusion: convex combination of min-max scores, or weighted RRF")
    p.add_argument("--dense-weight", type=float, default=None,
                   help="a fixed hybrid dense weight (0: BM25 only, 1: dense only). Default: "
                        "chosen on pseudo-queries cut from the corpus (held-out titles, else "
                        "word spans; seeded, 1,024 at most; re-embeds those documents once): "
                        "dense only unless mixing BM25 in gains with 95%% confidence")
    files = p.add_argument_group("a folder of files")
    files.add_argument("--chunk-tokens", type=int, default=200,
                       help="encoder word pieces a passage holds at most")
    files.add_argument("--chunk-overlap", type=int, default=40,
                       help="word pieces consecutive passages share")
    files.add_argument("--strict", action="store_true",
                       help="a file that cannot be parsed is fatal (default: skip, report)")
    files.add_argument("--acl", metavar="FILE",
                       help="YAML of path glob -> readers (\"**\" any depth, \"*\" everyone, "
                            "user:NAME one principal); unmatched files readable by nobody")
    files.add_argument("--rebuild", action="store_true",
                       help="re-encode every file (ignore the previous version)")
    from lepton_tf.pipelines.runners import CHOICES

    p.add_argument("--runner", choices=CHOICES, default="local",
                   help="local: in process (default); else an Apache Beam runner "
                        "(needs `pip install 'lepton-tf[beam]'`)")
    p.add_argument("--num-shards", type=int, default=1,
                   help="shards of the version (with --runner)")
    p.set_defaults(fn=run, pass_through=True)
