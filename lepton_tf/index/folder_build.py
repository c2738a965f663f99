"""A folder of files -> a new index version, re-encoding only what changed.

The first run parses, chunks and encodes every file. Each version keeps an
ingest manifest (`ingest.json`: sha256 and passage ids per file), so the
next run on the same folder parses and encodes only new and changed files,
loads the previous version, deletes the passages of changed and removed
files, upserts the new ones (unchanged passages keep their stored vectors)
and saves the result as a new version. Nothing is written until every
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


def _previous_manifest(out_dir: str, config, encoder, log):
    """The ingest manifest of the latest version, if that version can be
    updated (built from a folder, same chunking, same encoder); else None.
    Reads only the two manifests, so an unchanged folder costs a scan."""
    from lepton_tf.index.storage import list_index_versions, read_extra_file, read_manifest
    from lepton_tf.ingest.manifest import FILE_NAME, IngestManifest

    if not list_index_versions(out_dir):
        return None
    try:
        built_by = read_manifest(out_dir).get("encoder", {})
        text = read_extra_file(out_dir, FILE_NAME)
    except IndexFormatError as e:
        log(f"{e} Building anew.")
        return None
    if text is None:
        log(f"{out_dir}: the latest version was not built from a folder: building anew.")
        return None
    try:
        manifest = IngestManifest.from_json(text)
    except (ValueError, KeyError) as e:
        log(f"{out_dir}: unreadable {FILE_NAME} ({e}): building anew.")
        return None
    if manifest.chunking != config.to_dict():
        log(f"Chunking changed ({manifest.chunking} -> {config.to_dict()}): "
            "re-encoding every file.")
        return None
    ours, theirs = encoder.info.fingerprint, built_by.get("fingerprint", "")
    if ours and theirs and ours != theirs:
        log(f"{out_dir}: built with encoder {built_by.get('name')} v{built_by.get('version')}, "
            f"now {encoder.info.name} v{encoder.info.version}: re-encoding every file.")
        return None
    return manifest


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


def _self_fitted_rule(index, pseudo_top1: list, log) -> dict:
    """`not_found.json` fitted on the self-tuning pseudo-queries (none for an index
    with known questions: its default rule uses them)."""
    from lepton_tf.index import not_found_rule
    from lepton_tf.index.not_found_pseudo_threshold import fit_threshold

    rule = None if index.known_questions is not None else fit_threshold(pseudo_top1)
    if rule is None:
        return {}
    log(f"not-found: {rule.fitted_on['rule']} ({rule.fitted_on['fitted']})")
    return not_found_rule.rule_file(rule)


def _kept_rule(out_dir: str) -> dict:
    """The previous version's `not_found.json`, kept by an incremental update."""
    from lepton_tf.index import not_found_rule
    from lepton_tf.index.storage import read_extra_file

    text = read_extra_file(out_dir, not_found_rule.FILE_NAME)
    return {not_found_rule.FILE_NAME: text} if text is not None else {}


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


def _embed_questions(index, documents: list, encoder, log) -> None:
    """Embeds the known questions of JSONL records (`Passage.questions`) with the
    query tower; new ones only when the index has some already."""
    if index.known_questions is None and not any(d.questions for d in documents):
        return
    index.refresh_questions(encoder.encode_queries)
    if index.known_questions is not None:
        log(f"known questions: {len(index.known_questions)} embedded")


def build_folder_index(corpus_dir: str, out_dir: str, encoder, *, config=None, k: int = 10,
                       strict: bool = False, rebuild: bool = False, progress: bool = True,
                       log=print, self_tune: bool = True,
                       fusion=None, tune_sample: int = TUNE_SAMPLE,
                       acl=None) -> FolderBuildReport:
    """Indexes a folder of files, incrementally over its previous version.

    Args:
        corpus_dir: the folder (`.md .txt .html .pdf .jsonl .csv`, recursive).
        out_dir: the index base folder (versions inside).
        encoder: has `encode_documents(texts) -> [N, D]` and `info`
            (`SavedModelEncoder`).
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

    Returns:
        A `FolderBuildReport`.

    Raises:
        ParseError: with `strict`, for the first file that cannot be parsed.
        ValueError: if the folder yields no passage at all.
    """
    from lepton_tf.index import permissions
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.search_index import SearchIndex
    from lepton_tf.index.storage import resolve_index_dir, save_index
    from lepton_tf.ingest import ChunkConfig, Chunker, IngestManifest, diff, scan_folder
    from lepton_tf.ingest.manifest import FILE_NAME

    start = time.time()
    config = config or ChunkConfig()
    scanned = scan_folder(corpus_dir)
    unsupported = report_unsupported(corpus_dir, log)
    hashes = dict(scanned)
    previous = None if rebuild else _previous_manifest(out_dir, config, encoder, log)
    acl, acl_changed = _acl_rules(out_dir, acl, previous is not None, log)
    changes = diff(previous, scanned)
    if previous and not acl_changed and not (changes.added or changes.changed or
                                             changes.removed):
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
        previous, changes, reused = None, diff(None, scanned), {}
    parsed, skipped = _parse(corpus_dir, changes.added + changes.changed, Chunker(config),
                             strict, progress, log)
    documents = [Document(p.doc_id, p.text, p.title, p.metadata, p.questions)
                 for rel in sorted(parsed) for p in parsed[rel]]
    files = {**reused, **{rel: {"sha256": hashes[rel], "passages": [p.doc_id for p in parsed[rel]]}
                          for rel in parsed}}
    failed = {rel: {"sha256": hashes[rel], "reason": r} for rel, r in skipped.items()}
    manifest = IngestManifest(config.to_dict(), files, failed)
    if (previous is not None and not documents and not changes.removed and not acl_changed
            and not changes.changed and manifest.skipped == previous.skipped):
        current = resolve_index_dir(out_dir)
        log(f"No file changed: {current} is current.")
        return FolderBuildReport(current, False, True, [], [], [], changes.unchanged, skipped,
                                 0, len(index), time.time() - start, unsupported)
    total = sum(len(entry["passages"]) for entry in files.values())
    if total == 0:
        raise ValueError(f"{corpus_dir} yields no passage ({len(scanned)} supported files, "
                         f"{len(skipped)} skipped).")
    vectors = encoder.encode_documents([d.embedding_text() for d in documents]) if documents \
        else None
    extra = {FILE_NAME: manifest.to_json()}
    if index is None:
        built = IndexBuilder(*vectors.shape).auto().config(k=k)
        index = SearchIndex.build(vectors, documents, built, encoder=encoder.info, fusion=fusion)
        _embed_questions(index, documents, encoder, log)
        if self_tune and fusion is None:
            from lepton_tf.index.fusion_selftune import tune_default
            pseudo_top1: list = []
            tune_default(index, encoder, log, top1=pseudo_top1, max_cut=tune_sample)
            extra.update(_self_fitted_rule(index, pseudo_top1, log))
    else:
        extra.update(_kept_rule(out_dir))
        new_ids = {d.doc_id for d in documents}
        stale = [doc_id for rel in changes.changed + changes.removed
                 for doc_id in previous.files[rel]["passages"] if doc_id not in new_ids]
        if stale:
            index.delete(stale)
        if documents:
            index.upsert(documents, vectors)
        _embed_questions(index, documents, encoder, log)
        wanted = IndexBuilder(*index.embeddings.shape).auto().config(k=index.config.k)
        if wanted.kind != index.config.kind:  # grew past (or shrank below) exact search
            ordered = [index.documents[d] for d in index.row_ids]
            known = index.known_questions
            index = SearchIndex.build(index.embeddings, ordered, wanted, encoder=encoder.info,
                                      fusion=index.fusion)
            index.known_questions = known
    if fusion is not None:
        index.fusion = fusion
    regranted = permissions.apply_acl(index, acl)
    if acl is not None:
        extra[permissions.ACL_FILE] = acl.text
    path = save_index(index, out_dir, extra_files=extra)
    report = FolderBuildReport(path, True, previous is not None, changes.added, changes.changed,
                               changes.removed, changes.unchanged, skipped, len(documents),
                               len(index), time.time() - start, unsupported,
                               permissions.unmatched(index.documents.values()), regranted)
    log(report.summary())
    return report


def _acl_rules(out_dir: str, acl, incremental: bool, log):
    """`(rules, changed)`: the rules to apply (given, else the previous version's)
    and whether they differ from the previous version's."""
    from lepton_tf.index.permissions import ACL_FILE, AclRules
    from lepton_tf.index.storage import read_extra_file

    stored = read_extra_file(out_dir, ACL_FILE) if incremental else None
    if acl is None:
        if stored is not None:
            log(f"No --acl given: keeping the permissions {out_dir} was built with.")
            return AclRules.parse(stored, f"{out_dir} ({ACL_FILE})"), False
        return None, False
    return acl, acl.text != stored
