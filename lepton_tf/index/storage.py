"""Versioned, checksummed, atomic index folders.

    <base>/<version>/manifest.json      config, dimension, encoder, sha256 of every file
                     documents.jsonl.gz the document store
                     embeddings.npy     the vectors (exact search, rebuilds)
                     scann/             the serialized ScaNN searcher, asset paths relative
                     scann/docids.json  row -> doc id (instead of ScaNN's pickle)
                     bm25/              stemmed BM25 (bm25s matrices, doc ids, settings)

The manifest also holds `fusion` (method, dense weight, what tuned it).

Like model versions, an index version is written to a hidden temp folder
and renamed into place: a crash leaves no half-written version.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import time

import numpy as np

from lepton_tf.files.digest import file_sha256
from lepton_tf.files.versions import publish_atomically, version_folders
from lepton_tf.index.scann_config import IndexConfig
from lepton_tf.index.documents import documents_path, read_documents, write_documents
from lepton_tf.index.errors import IndexFormatError, IndexMismatchError
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.known_questions import KnownQuestions
from lepton_tf.index.lexical import LexicalIndex
from lepton_tf.index.search_index import EncoderInfo, SearchIndex

FORMAT = 1
LEXICAL_DIR = "bm25"
_ASSET_PATH = re.compile(r'asset_path: "([^"]*)"')


sha256_file = file_sha256  # one definition (lepton_tf.ingest.discovery), re-exported


def _files(root: str) -> list[str]:
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if rel != "manifest.json":
                found.append(rel)
    return sorted(found)


def relativize_scann_assets(scann_dir: str) -> None:
    """Rewrites `scann_assets.pbtxt` paths to bare file names, so the folder
    can move (ScaNN's `serialize()` stores paths as given)."""
    path = os.path.join(scann_dir, "scann_assets.pbtxt")
    with open(path) as f:
        text = f.read()
    text = _ASSET_PATH.sub(lambda m: f'asset_path: "{os.path.basename(m.group(1))}"', text)
    with open(path, "w") as f:
        f.write(text)


def list_index_versions(base_dir: str) -> list[int]:
    """The complete index versions under `base_dir`, ascending."""
    return sorted(version_folders(base_dir, ("manifest.json",)))


def write_index(index: SearchIndex, folder: str, version: int = 0,
                extra_files: dict[str, str] | None = None) -> None:
    """Writes the files of `index` (and `extra_files`: name -> text) into the
    existing empty `folder`, the manifest (with every other file's sha256) last."""
    scann_dir = os.path.join(folder, "scann")
    os.makedirs(scann_dir)
    index.searcher.serialize(scann_dir, relative_path=True)
    relativize_scann_assets(scann_dir)
    pickle_path = os.path.join(scann_dir, "scann_docids.pkl")
    if os.path.exists(pickle_path):
        os.remove(pickle_path)  # ids go in JSON: loading must not unpickle
    with open(os.path.join(scann_dir, "docids.json"), "w") as f:
        json.dump(list(index.searcher.docids), f)
    # Documents and vectors in the searcher's row order.
    order = list(index.searcher.docids)
    rows = {doc_id: i for i, doc_id in enumerate(index.row_ids)}
    write_documents([index.documents[d] for d in order], documents_path(folder))
    np.save(os.path.join(folder, "embeddings.npy"), index.embeddings[[rows[d] for d in order]])
    if index.lexical is not None:
        index.lexical.save(os.path.join(folder, LEXICAL_DIR))
    questions = index.known_questions
    if questions is not None:
        if not questions.matches(index.documents.values()):
            raise ValueError("The documents' known questions changed since they were embedded: "
                             "call index.refresh_questions(encoder.encode_queries) first.")
        questions.save(folder)
    # Without (a shard, a Beam-built version) the questions stay in the documents,
    # unembedded: the not-found rule does without them, and an update embeds them.
    for name, text in (extra_files or {}).items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)
    manifest = {"format": FORMAT, "version": version, "created": time.time(),
                "count": len(order), "dimension": index.dimension,
                "config": index.config.to_dict(),
                "encoder": dataclasses.asdict(index.encoder),
                "fusion": index.fusion.to_dict(),
                "lexical": index.lexical is not None,
                "questions": len(questions) if questions is not None else 0,
                "permissions": sum(1 for d in index.documents.values()
                                   if getattr(d, "readers", None) is not None),
                "sha256": {f: sha256_file(os.path.join(folder, f)) for f in _files(folder)}}
    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def save_index(index: SearchIndex, base_dir: str, version: int | None = None,
               extra_files: dict[str, str] | None = None) -> str:
    """Writes `index` as a new version under `base_dir`; returns its folder.

    Args:
        index: the index.
        base_dir: the folder holding versions.
        version: the version number (default: latest + 1).
        extra_files: file name -> text written into the version beside the
            index and checksummed with it (e.g. the ingest manifest).

    Raises:
        FileExistsError: if that version exists (versions are immutable).
    """
    os.makedirs(base_dir, exist_ok=True)
    existing = list_index_versions(base_dir)
    version = version or (existing[-1] + 1 if existing else 1)
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; index versions are immutable.")
    with publish_atomically(base_dir, version, kind="index") as tmp:
        write_index(index, tmp, version, extra_files)
    return final


def resolve_index_dir(path: str) -> str:
    """`path` itself if it is a version folder, else its latest version."""
    if os.path.exists(os.path.join(path, "manifest.json")):
        return path
    versions = list_index_versions(path)
    if not versions:
        raise FileNotFoundError(f"No index at {path}: build one with `lepton-tf index`.")
    return os.path.join(path, str(versions[-1]))


def read_manifest(path: str) -> dict:
    """The manifest of an index version (or of the latest under a base folder).

    Raises:
        FileNotFoundError: no index there.
        IndexFormatError: an unreadable manifest or an unknown format.
    """
    path = resolve_index_dir(path)
    try:
        with open(os.path.join(path, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise IndexFormatError(f"{path}: unreadable manifest.json ({e}).") from None
    if manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{path}: index format {manifest.get('format')!r}, "
                               f"this lepton-tf reads {FORMAT}. Rebuild the index.")
    return manifest


def verify_files(path: str, sha256: dict) -> None:
    """Checks each `relative path -> sha256` of a manifest under `path`.

    Raises:
        IndexFormatError: naming the first missing or corrupt file.
    """
    for rel, digest in sha256.items():
        full = os.path.join(path, rel)
        if not os.path.exists(full):
            raise IndexFormatError(f"{path}: {rel} is missing. Rebuild the index.")
        if sha256_file(full) != digest:
            raise IndexFormatError(f"{path}: {rel} is corrupt (checksum mismatch). "
                                   "Rebuild the index.")


def read_extra_file(path: str, name: str) -> str | None:
    """The text of a file `save_index` wrote through `extra_files` (None if
    that version has none); `path` as `resolve_index_dir` takes it."""
    full = os.path.join(resolve_index_dir(path), name)
    if not os.path.exists(full):
        return None
    with open(full, encoding="utf-8") as f:
        return f.read()


def _load_lexical(path: str, doc_ids: frozenset) -> LexicalIndex:
    lexical = LexicalIndex.load(os.path.join(path, LEXICAL_DIR))
    if set(lexical.doc_ids) != doc_ids or len(lexical.doc_ids) != len(doc_ids):
        raise IndexFormatError(f"{path}: the BM25 part and the documents disagree. Rebuild.")
    return lexical


def load_index(path: str, *, expected_dimension: int | None = None,
               expected_encoder: EncoderInfo | None = None, verify: bool = True,
               num_threads: int = 0) -> SearchIndex:
    """Loads an index version (or the latest under a base folder).

    Args:
        path: a version folder, or the base folder holding versions.
        expected_dimension: refuse an index of another dimension.
        expected_encoder: refuse an index built by another encoder (its
            fingerprint, when both have one).
        verify: check every file's sha256 against the manifest.
        num_threads: ScaNN search threads (0: all cores).

    Raises:
        FileNotFoundError: no index there.
        IndexFormatError: corrupt, incomplete or unknown format.
        IndexMismatchError: wrong dimension or encoder.
    """
    import scann
    from scann.scann_ops.py.scann_ops_pybind import ScannSearcher

    path = resolve_index_dir(path)
    manifest = read_manifest(path)
    if verify:
        verify_files(path, manifest["sha256"])
    if expected_dimension is not None and manifest["dimension"] != expected_dimension:
        raise IndexMismatchError(
            f"{path}: index dimension {manifest['dimension']} but the encoder gives "
            f"{expected_dimension}. Rebuild the index with this encoder.")
    encoder = EncoderInfo(**manifest.get("encoder", {}))
    if (expected_encoder and expected_encoder.fingerprint and encoder.fingerprint
            and expected_encoder.fingerprint != encoder.fingerprint):
        raise IndexMismatchError(
            f"{path}: built with encoder {encoder.name} v{encoder.version} "
            f"(fingerprint {encoder.fingerprint[:12]}), but the serving encoder is "
            f"{expected_encoder.name} v{expected_encoder.version} "
            f"({expected_encoder.fingerprint[:12]}). Rebuild the index: `lepton-tf index`.")
    scann_dir = os.path.join(path, "scann")
    with open(os.path.join(scann_dir, "docids.json")) as f:
        docids = json.load(f)
    documents = read_documents(documents_path(path))
    # Memory-mapped: ScaNN holds its own copy of the vectors (for re-ranking);
    # these pages are read only by exact search, tuning and updates.
    embeddings = np.load(os.path.join(path, "embeddings.npy"), mmap_mode="r")
    row_ids = [d.doc_id for d in documents]  # one set of id strings for all
    if row_ids != docids or len(embeddings) != len(docids):
        raise IndexFormatError(f"{path}: documents, vectors and searcher disagree. Rebuild.")
    del docids
    with open(os.path.join(scann_dir, "scann_assets.pbtxt")) as f:
        assets = f.read()
    searcher = ScannSearcher(scann.scann_ops_pybind.scann_pybind.ScannNumpy(scann_dir, assets),
                             docids=row_ids)
    if num_threads:
        searcher.set_num_threads(num_threads)
    try:
        known_questions = KnownQuestions.load(path, documents)
    except (OSError, ValueError) as e:
        raise IndexFormatError(f"{e} Rebuild the index.") from None
    lexical = None
    if manifest.get("lexical"):  # checksummed above; read on first bm25/hybrid search
        lexical = functools.partial(_load_lexical, path, frozenset(row_ids))
    return SearchIndex(searcher, IndexConfig(**manifest["config"]), documents, embeddings,
                       encoder, lexical=lexical,
                       fusion=FusionConfig.from_dict(manifest.get("fusion")),
                       known_questions=known_questions)
