"""What the launcher does with a Beam-built version between its last worker and its publish.

The workers leave every shard, and the pieces a version's parts are made
of, in the version's staging folder: a local folder renamed into place at
the end (`files.versions.publish_atomically`), or the version's prefix on
an object store, published by writing its manifest last
(`filesystems.publish_manifest_last`). Both go through `FileSystems`, so a
version has the same parts wherever it is written:

- `--tune PAIRS`: the shards are loaded (copied out of an object store
  first) and the weight is chosen on the pairs over all of them, as one
  index ranks them (`index.version_builder.tune_on_pairs`); each shard's
  manifest is rewritten with it, before the top manifest checksums them;
- the not-found rule the pipeline fitted on its self-tuning pseudo-queries
  (`FITTED_RULE`);
- a folder's ingest manifest, from the passage ids each worker wrote
  (`incremental.write_part`).

The staging pieces are removed once read: a published version holds only
its shards and its parts.
"""

from __future__ import annotations

import json
import os
import tempfile

from lepton_tf.pipelines import filesystems

FITTED_RULE = ".not-found-fitted.json"  # written by `choose_fusion`


def write_text(path: str, text: str) -> None:
    """Writes a staging file, on a local disk or an object store."""
    filesystems.write_bytes(path, text.encode("utf-8"))


def read_text(path: str) -> str | None:
    """A staging file's text (None: not there)."""
    if not filesystems.exists(path):
        return None
    return filesystems.read_bytes(path).decode("utf-8")


def take_fitted_rule(staging: str):
    """The not-found rule `choose_fusion` fitted (None: none), its file removed."""
    from lepton_tf.index.not_found_rule import NotFoundRule

    path = filesystems.join(staging, FITTED_RULE)
    text = read_text(path)
    if text is None:
        return None
    filesystems.remove(path)
    return NotFoundRule.from_dict(json.loads(text))


def tune_staged_shards(staging: str, num_shards: int, k: int, pairs: str, encoder,
                       log=print):
    """Chooses the fusion weight on `pairs` over the staged shards and writes
    it into every shard's manifest (the top manifest, written after, checksums
    them).

    Args:
        staging: the version's staging folder or object-store prefix.
        num_shards: its shards.
        k: its default number of results.
        pairs: a JSONL of `{query, positive}`.
        encoder: `encode_queries` (a `SavedModelEncoder`).
        log: where messages go.

    Returns:
        The chosen `FusionConfig`.

    Raises:
        ValueError: none of the pairs' positives is a passage of the version.
        IndexFormatError: a shard was not written.
    """
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.index.sharded_storage import shard_name
    from lepton_tf.index.storage import load_index
    from lepton_tf.index.version_builder import tune_on_pairs

    with tempfile.TemporaryDirectory(prefix="lepton-tune-") as tmp:
        folders = []
        for s in range(num_shards):
            remote = filesystems.join(staging, shard_name(s))
            if filesystems.is_local(staging):
                folders.append(remote)
                continue
            local = os.path.join(tmp, shard_name(s))
            for rel in filesystems.list_files(remote):
                target = os.path.join(local, *rel.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as f:
                    f.write(filesystems.read_bytes(filesystems.join(remote, rel)))
            folders.append(local)
        index = ShardedIndex([load_index(folder) for folder in folders], k=k)
        try:
            tune_on_pairs(index, pairs, encoder, log)
        finally:
            index.close()
        for s, folder in enumerate(folders):
            with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
                manifest = json.load(f)
            manifest["fusion"] = index.fusion.to_dict()
            write_text(filesystems.join(staging, shard_name(s), "manifest.json"),
                       json.dumps(manifest, indent=1))
    return index.fusion
