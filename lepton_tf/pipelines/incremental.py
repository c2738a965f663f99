"""The pipeline's incremental run: re-embed only the files that changed.

As `lepton-tf index --corpus DIR` does in process (`index.folder_build`),
a sharded version built from a folder of files keeps an ingest manifest
(`ingest.json`: sha256 and passage ids of every file; `ingest.manifest`),
checksummed in the version's manifest. The next pipeline run over the same
folder, with the same chunking, encoder and number of shards:

- reads only the added and changed files, and embeds their passages but
  those whose title, text and questions are as stored (`KeepSameContent`);
- takes every passage of an unchanged file, with its stored vector, from
  the previous version's shard that holds it (one worker a shard, its
  `documents` and `embeddings.npy` checked against the shard's manifest);
- drops the passages of changed and removed files;

and builds every shard anew from both (ScaNN and BM25 with the corpus's new
statistics), so the version equals a full rebuild: each reused passage keeps
the position a full run would give it (its file's number in the new scan,
its number in the file), hence the same row in the same shard.

Whether the previous version can be reused is the `index.reuse_plan`'s
decision, the same as in process. Only a local folder corpus and a local
`--out` are incremental (hashing a remote corpus would read it all on the
launcher); anything else, or `rebuild`, builds in full.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

PARTS = ".ingest-parts"


@dataclasses.dataclass
class Plan:
    """What an incremental run reuses.

    Attributes:
        previous: the previous version's folder.
        changes: `ingest.diff` of the previous manifest and the new scan.
        hashes: relpath -> sha256 of every file now.
        numbers: relpath -> its source number in the new scan.
        reused: relpath -> the previous manifest's entry, unchanged files.
        changed_ids: the previous passage ids of changed files (those whose
            title, text and questions are as stored keep their vectors:
            `KeepSameContent`).
    """

    previous: str
    changes: object
    hashes: dict
    numbers: dict
    reused: dict
    changed_ids: frozenset = frozenset()

    def positions(self) -> dict:
        """doc id -> `(source number, n)` of every reused passage."""
        return {doc_id: (self.numbers[rel], n) for rel, entry in self.reused.items()
                for n, doc_id in enumerate(entry["passages"])}


def plan_run(corpus: str, reuse) -> Plan | None:
    """The `Plan` of an incremental run, or None to build in full.

    Args:
        corpus: the run's folder of files.
        reuse: the run's `index.reuse_plan.ReusePlan` (decided with the
            run's chunking, encoder and number of shards: another count
            than the previous version's moves passages between shards).
    """
    from lepton_tf.ingest import diff, scan_folder

    if not reuse.passages:
        return None
    manifest = reuse.parts.ingest
    scanned = scan_folder(corpus)
    changes = diff(manifest, scanned)
    numbers = {rel: i for i, (rel, _) in enumerate(scanned)}
    return Plan(reuse.previous, changes, dict(scanned), numbers,
                {rel: manifest.files[rel] for rel in changes.unchanged},
                frozenset(doc_id for rel in changes.changed
                          for doc_id in manifest.files[rel]["passages"]))


class ReadReused:
    """shard number -> `(shard, (position, Document, vector))` of its reused
    passages, read from the previous version's shard (for `beam.FlatMap`).

    Raises:
        IndexFormatError: a previous shard file fails its checksum.
    """

    def __init__(self, previous: str, positions: dict, acl=None):
        # acl: `AclRules` to apply to the reused passages (None: keep their readers)
        self.previous, self.positions, self.acl = previous, positions, acl

    def __call__(self, shard: int):
        import dataclasses

        from lepton_tf.index.permissions import readers_of_document

        for doc, vector in previous_shard(self.previous, shard):
            if doc.doc_id in self.positions:
                if self.acl is not None:  # new permissions, same vectors: nothing re-encoded
                    doc = dataclasses.replace(doc, readers=readers_of_document(doc, self.acl))
                yield shard, (self.positions[doc.doc_id], doc, np.array(vector, np.float32))


EMBED = "embed"


class KeepSameContent:
    """`(shard, [(position, Document)])` of the passages read from changed files
    -> `(shard, (position, Document, stored vector))` for each passage whose
    title, text and questions are as stored in the previous version's shard
    (`ReusePlan.same_content`; the same shard: the same number of shards),
    and `TaggedOutput(EMBED, (position, Document))` for the others, to embed
    (for `beam.FlatMap(...).with_outputs(EMBED, main=...)`).

    Raises:
        IndexFormatError: a previous shard file fails its checksum.
    """

    def __init__(self, previous: str, changed_ids: frozenset):
        self.previous, self.changed_ids = previous, changed_ids

    def __call__(self, group):
        import apache_beam as beam

        from lepton_tf.index.reuse_plan import ReusePlan

        shard, items = group
        stored = {}
        if any(doc.doc_id in self.changed_ids for _, doc in items):
            stored = {doc.doc_id: (doc, vector) for doc, vector
                      in previous_shard(self.previous, shard) if doc.doc_id in self.changed_ids}
        for position, doc in items:
            old = stored.get(doc.doc_id)
            if old is not None and ReusePlan.same_content(old[0], doc):
                yield shard, (position, doc, np.array(old[1], np.float32))
            else:
                yield beam.pvalue.TaggedOutput(EMBED, (position, doc))


def previous_shard(previous: str, shard: int):
    """`(Document, vector)` of every passage of a previous version's shard, its
    documents and vectors checked against the shard's manifest first.

    Raises:
        IndexFormatError: a file fails its checksum.
    """
    from lepton_tf.index.documents import documents_path, read_documents
    from lepton_tf.index.errors import IndexFormatError
    from lepton_tf.index.sharded_storage import shard_name
    from lepton_tf.index.storage import sha256_file

    folder = os.path.join(previous, shard_name(shard))
    with open(os.path.join(folder, "manifest.json")) as f:
        sums = json.load(f)["sha256"]
    docs_file = os.path.relpath(documents_path(folder), folder)
    for name in (docs_file, "embeddings.npy"):
        if sha256_file(os.path.join(folder, name)) != sums.get(name):
            raise IndexFormatError(f"{folder}/{name} fails its checksum: rebuild with "
                                   "--rebuild.")
    vectors = np.load(os.path.join(folder, "embeddings.npy"), mmap_mode="r")
    return zip(read_documents(documents_path(folder)), vectors)


def write_part(group, staging: str) -> None:
    """`(source number, [(n, doc id)])` -> that file's passage ids, in order,
    in the staging folder or prefix (the launcher merges them into `ingest.json`)."""
    from lepton_tf.pipelines import filesystems

    number, items = group
    filesystems.write_bytes(filesystems.join(staging, PARTS, f"{number}.json"),
                            json.dumps([doc_id for _, doc_id in sorted(items)]).encode())


def ingest_manifest(staging: str, sources: list, plan: Plan | None, chunk_config,
                    hashes: dict):
    """The new version's `IngestManifest`: reused entries + the parts the
    workers wrote for the files they read (removed from staging once read)."""
    from lepton_tf.ingest import ChunkConfig
    from lepton_tf.ingest.manifest import IngestManifest
    from lepton_tf.pipelines import filesystems

    files = dict(plan.reused) if plan else {}
    for number, _, rel in sources:
        path = filesystems.join(staging, PARTS, f"{number}.json")
        passages = json.loads(filesystems.read_bytes(path)) if filesystems.exists(path) else []
        files[rel] = {"sha256": hashes[rel], "passages": passages}
    filesystems.delete_quietly(filesystems.join(staging, PARTS))
    return IngestManifest((chunk_config or ChunkConfig()).to_dict(), files)
