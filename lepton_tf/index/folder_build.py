"""A folder of files -> a new index version, re-encoding only what changed.

The first run parses, chunks and encodes every file. Each version keeps an
ingest manifest (`ingest.json`: sha256 and passage ids per file), so the
next run on the same folder parses only new and changed files, loads the
previous version, deletes the passages of changed and removed files that
are gone, upserts the new ones (unchanged files' passages keep their stored
vectors, and so do a changed file's passages whose title, text and
questions are as stored: `ReusePlan.same_content`) and saves the result as
a new version. Nothing is written until every
vector is computed, and `save_index` publishes by an atomic rename: a crash
leaves the previous version current and no half-written one.

With an ACL (`acl`, `index.permissions`) every passage gets the readers of
its file's globs (or its record's own); the rules are stored in the version
(`acl.yaml`), and a run whose only change is the ACL writes a new version
with the new readers and re-encodes nothing.

The fusion weight is chosen on pseudo-queries of the passages
(`index.fusion_selftune.tune_default`) when a version is built anew (first run,
`rebuild`, another encoder or chunking); an incremental run keeps the
previous version's weight and its origin (`lepton-tf index --retune`
chooses again).
"""

from __future__ import annotations

import dataclasses
import sys
import time

from lepton_tf.index.documents import Document
from lepton_tf.index.errors import IndexFormatError, IndexMismatchError


@dataclasses.dataclass
class FolderBuildReport:
    """What a folder build did.

    Attributes:
        path: the version folder written (or the current one, when nothing
            changed and no version was written).
        written: False when the folder was unchanged.
        incremental: whether the previous version was updated (else built
            from scratch).
        added / changed / removed / unchanged / skipped: relpaths;
            `skipped` maps a file that could not be parsed to why.
        encoded: passages sent to the encoder.
        passages: passages in the version.
        seconds: wall time.
        unsupported: files of a type no parser reads (relpaths), not indexed.
        unreadable: passages no ACL rule grants to anyone.
        acl_changed: passages whose readers changed.
    """

    path: str
    written: bool
    incremental: bool
    added: list
    changed: list
    removed: list
    unchanged: list
    skipped: dict
    encoded: int
    passages: int
    seconds: float
    unsupported: tuple = ()
    unreadable: int = 0
    acl_changed: int = 0

    def summary(self) -> str:
        what = "updated" if self.incremental else "built"
        acl = (f"; readers set or changed on {self.acl_changed} passages, {self.unreadable} "
               "readable by nobody (no ACL glob matches their file)") \
            if self.acl_changed or self.unreadable else ""
        return (f"{what} {self.path}: {self.passages} passages; files +{len(self.added)} "
                f"~{len(self.changed)} -{len(self.removed)} ={len(self.unchanged)}, "
                f"{len(self.skipped)} skipped (unreadable), {len(self.unsupported)} not read "
                f"(type not supported); {self.encoded} passages encoded in "
                f"{self.seconds:.1f} s{acl}")


def report_unsupported(corpus_dir: str, log) -> tuple:
    """Names the files no parser reads (a `.docx`, an image), once per build."""
    from lepton_tf.ingest import SUPPORTED
    from lepton_tf.ingest.discovery import unsupported_files

    unsupported = tuple(unsupported_files(corpus_dir))
    if unsupported:
        shown = ", ".join(unsupported[:10]) + (" ..." if len(unsupported) > 10 else "")
        log(f"Not read, type not supported ({len(unsupported)} files): {shown} "
            f"(supported: {' '.join(SUPPORTED)})")
    return unsupported


def _load_previous(out_dir: str, encoder, log):
    """The latest version as a `SearchIndex` to update (None: build anew)."""
    from lepton_tf.index.storage import load_index

    try:
        return load_index(out_dir, expected_encoder=encoder.info)
    except (IndexMismatchError, IndexFormatError) as e:
        log(f"{e} Building anew.")
        return None


# A file's passages share its heading paths, so cutting a title out of every
# passage that has it re-encoded most of a folder: a second full pass. Tuning
# cuts at most this many passages (the fusion weight and not-found rule are
# chosen on their pseudo-queries; BEIR/JSONL builds keep `fusion_selftune`'s 4 n).
TUNE_SAMPLE = 512
ENCODING_BAR = "Encoding passages"  # one labelled bar per stage, after "Reading files"


def _parse(corpus_dir: str, relpaths: list[str], chunker, strict: bool, progress: bool, log):
    """relpath -> passages of each file that parses, and relpath -> reason."""
    import os

    from tqdm import tqdm

    from lepton_tf.ingest import ParseError, iter_passages

    parsed, skipped = {}, {}
    bar = tqdm(relpaths, desc="Reading files", unit="file", disable=None if progress else True,
               file=sys.stderr)
    for rel in bar:
        try:
            parsed[rel] = list(iter_passages(os.path.join(corpus_dir, *rel.split("/")),
                                             relpath=rel, chunker=chunker))
        except ParseError as e:
            if strict:
                raise
            skipped[rel] = e.reason
            log(f"Skipped {rel}: {e.reason}")
    return parsed, skipped


def build_folder_index(corpus_dir: str, out_dir: str, encoder, *, config=None, k: int = 10,
                       strict: bool = False, rebuild: bool = False, progress: bool = True,
                       log=print, self_tune: bool = True,
                       fusion=None, tune_sample: int = TUNE_SAMPLE,
                       acl=None, tune_pairs: str | None = None,
                       method: str = "convex") -> FolderBuildReport:
    """Indexes a folder of files, incrementally over its previous version.

    Args:
        corpus_dir: the folder (`.md .txt .html .pdf .jsonl .csv`, recursive).
        out_dir: the index base folder (versions inside).
        encoder: has `encode_documents(texts) -> [N, D]`, `encode_queries`
            and `info` (`SavedModelEncoder`).
        config: a `ChunkConfig` (default 200 tokens, 40 overlap).
        k: default number of results of a new index.
        strict: a file that cannot be parsed is fatal (else skipped and
            reported by name).
        rebuild: ignore the previous version (re-encode everything).
        progress: tqdm bars (files, encoder batches) on a terminal.
        log: where messages go.
        self_tune: choose the fusion weight on pseudo-queries when the
            version is built anew (False: the default weight; an
            incremental run always keeps the previous one).
        fusion: a `FusionConfig` to set instead (a new or an updated
            version; no self-tuning).
        tune_sample: passages self-tuning cuts its pseudo-queries from (and
            re-encodes without them) at most.
        acl: `permissions.AclRules` (None: the previous version's, if any).
        tune_pairs: a JSONL of `{query, positive}`: the weight is tuned on
            them before the version is published (one version).
        method: the fusion method of a version built anew.

    Returns:
        A `FolderBuildReport`.

    Raises:
        ParseError: with `strict`, for the first file that cannot be parsed.
        ValueError: if the folder yields no passage at all.
    """
    from lepton_tf.index import permissions
    from lepton_tf.index.reuse_plan import ReusePlan
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.search_index import SearchIndex
    from lepton_tf.index.storage import resolve_index_dir
    from lepton_tf.index.fusion_selftune import TUNING_BAR
    from lepton_tf.index.version_builder import IndexVersionBuilder
    from lepton_tf.ingest import ChunkConfig, Chunker, IngestManifest, diff, scan_folder

    start = time.time()
    config = config or ChunkConfig()
    scanned = scan_folder(corpus_dir)
    unsupported = report_unsupported(corpus_dir, log)
    hashes = dict(scanned)
    plan = ReusePlan.decide(out_dir, encoder.info, chunking=config.to_dict(), rebuild=rebuild,
                            log=log)
    previous = plan.parts.ingest if plan.passages else None
    if acl is None and plan.acl is not None:
        log(f"No --acl given: keeping the permissions {out_dir} was built with.")
    acl_changed = acl is not None and acl.text != (plan.acl.text if plan.acl else None)
    changes = diff(previous, scanned)
    if previous and not acl_changed and not tune_pairs and not (
            changes.added or changes.changed or changes.removed):
        current = resolve_index_dir(out_dir)
        log(f"No file changed: {current} is current.")
        return FolderBuildReport(current, False, True, [], [], [], changes.unchanged, {}, 0,
                                 sum(len(e["passages"]) for e in previous.files.values()),
                                 time.time() - start, unsupported)
    reused = {rel: previous.files[rel] for rel in changes.unchanged} if previous else {}
    index = None
    if previous and any(entry["passages"] for entry in reused.values()):
        index = _load_previous(out_dir, encoder, log)
    if index is None:  # nothing to reuse: build anew
        if plan.passages:
            plan = plan.without_passages("no passage of the previous version is reused")
        previous, changes, reused = None, diff(None, scanned), {}
    builder = IndexVersionBuilder(out_dir, encoder, plan, fusion=fusion, method=method,
                                  tune_pairs=tune_pairs, self_tune=self_tune,
                                  tune_sample=tune_sample, fit_not_found=True, acl=acl, log=log,
                                  tuning_bar=TUNING_BAR if progress else None)
    parsed, skipped = _parse(corpus_dir, changes.added + changes.changed, Chunker(config),
                             strict, progress, log)
    documents = [Document.of_passage(p) for rel in sorted(parsed) for p in parsed[rel]]
    files = {**reused, **{rel: {"sha256": hashes[rel], "passages": [p.doc_id for p in parsed[rel]]}
                          for rel in parsed}}
    failed = {rel: {"sha256": hashes[rel], "reason": r} for rel, r in skipped.items()}
    manifest = IngestManifest(config.to_dict(), files, failed)
    if (previous is not None and not documents and not changes.removed and not acl_changed
            and not changes.changed and not tune_pairs and manifest.skipped == previous.skipped):
        current = resolve_index_dir(out_dir)
        log(f"No file changed: {current} is current.")
        return FolderBuildReport(current, False, True, [], [], [], changes.unchanged, skipped,
                                 0, len(index), time.time() - start, unsupported)
    total = sum(len(entry["passages"]) for entry in files.values())
    if total == 0:
        raise ValueError(f"{corpus_dir} yields no passage ({len(scanned)} supported files, "
                         f"{len(skipped)} skipped).")
    from lepton_tf.index.encoding import encode_documents_labelled

    # A changed file's passages whose text, title and questions are as stored (an edit
    # elsewhere in the file) keep their vectors: only the others are encoded.
    same = [dataclasses.replace(d, readers=index.documents[d.doc_id].readers)
            for d in documents if plan.same_content(index.documents.get(d.doc_id), d)] \
        if index is not None else []
    kept = {d.doc_id for d in same}
    fresh = [d for d in documents if d.doc_id not in kept]
    vectors = encode_documents_labelled(encoder, [d.embedding_text() for d in fresh],
                                        ENCODING_BAR if progress else None) if fresh else None
    if index is None:
        index = builder.new_index(vectors, fresh, k)
    else:
        new_ids = {d.doc_id for d in documents}
        stale = [doc_id for rel in changes.changed + changes.removed
                 for doc_id in previous.files[rel]["passages"] if doc_id not in new_ids]
        if stale:
            index.delete(stale)
        if same:
            index.replace_documents(same)  # offsets and metadata may move; vectors stay
        if fresh:
            index.upsert(fresh, vectors)
        wanted = IndexBuilder(*index.embeddings.shape).auto().config(k=index.config.k)
        if wanted.kind != index.config.kind:  # grew past (or shrank below) exact search
            ordered = [index.documents[d] for d in index.row_ids]
            known = index.known_questions
            index = SearchIndex.build(index.embeddings, ordered, wanted, encoder=encoder.info,
                                      fusion=index.fusion)
            index.known_questions = known
    regranted = permissions.apply_acl(index, builder.kept_acl)
    path = builder.publish(index, ingest=manifest)
    report = FolderBuildReport(path, True, previous is not None, changes.added, changes.changed,
                               changes.removed, changes.unchanged, skipped, len(fresh),
                               len(index), time.time() - start, unsupported,
                               permissions.unmatched(index.documents.values()), regranted)
    log(report.summary())
    return report
