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
    lepton-tf index --runner direct --num-shards 4 --tune pairs.jsonl
                                                 # tuned on the built shards, then published
    lepton-tf index --runner flink --num-shards 64 --flink_master=HOST:8081 ...

Flags this command does not know are Beam pipeline options, passed through
to the runner (docs/deploy.md shows them for Flink, Spark and Dataflow). The
build that runs is chosen by `lepton_tf.indexing`, which a program can call.
"""

from lepton_tf.index.build import DEFAULT_INDEX_DIR
from lepton_tf.indexing import DEFAULT_CORPUS, DEFAULT_ENCODER

__all__ = ["DEFAULT_CORPUS", "DEFAULT_ENCODER", "DEFAULT_INDEX_DIR", "register", "run"]


def request_of(args):
    """The `IndexRequest` of the parsed flags."""
    import dataclasses

    from lepton_tf.indexing import IndexRequest

    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(IndexRequest)
             if hasattr(args, f.name)}
    return IndexRequest(**given, beam_args=list(getattr(args, "extra", [])))


def build(args, encoder=None) -> int:
    """Builds the version the flags ask for (`indexing.build_index_version`),
    with an encoder object instead of `--encoder`'s when given.

    Returns:
        0, or 1 when `--strict` met a file that cannot be parsed.
    """
    from lepton_tf.indexing import build_index_version
    from lepton_tf.ingest import ParseError

    try:
        build_index_version(request_of(args), encoder)
    except ParseError as e:
        print(f"lepton-tf index: {e} (--strict: nothing written)")
        return 1
    return 0


def run(args) -> int:
    request = request_of(args)
    status = build(args)
    return status or _write_assistant_texts(request.out_dir, request.corpus)


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
