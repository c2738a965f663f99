"""Sharded index versions: one ordinary index folder per shard, one manifest.

    <base>/<version>/manifest.json    kind "sharded", shard list, sha256 of every
                                      shard's manifest (written last)
                     shard-00000/     an index folder as `storage.write_index`
                     shard-00001/     writes it (its own manifest checksums its files)

A version is staged in a hidden `.tmp-index-v<N>-*` folder (the workers of a
Beam pipeline each write their shards there), the top manifest is written
when every shard is in, then the folder is renamed into place: readers list
only folders with a top manifest, so a build that fails half-way publishes
nothing, and `abort_staging` removes what it left.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid

from lepton_tf.index.errors import IndexFormatError, IndexMismatchError
from lepton_tf.index.storage import (FORMAT, list_index_versions, load_index, read_manifest,
                                     resolve_index_dir, sha256_file, write_index)

KIND = "sharded"


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def new_staging(base_dir: str, version: int | None = None) -> tuple[int, str]:
    """A hidden folder to build version `version` (default: latest + 1) in.

    Returns:
        `(version, staging folder)`.

    Raises:
        FileExistsError: that version exists (versions are immutable).
    """
    os.makedirs(base_dir, exist_ok=True)
    existing = list_index_versions(base_dir)
    version = version or (existing[-1] + 1 if existing else 1)
    if os.path.exists(os.path.join(base_dir, str(version))):
        raise FileExistsError(f"{os.path.join(base_dir, str(version))} exists; "
                              "index versions are immutable.")
    return version, tempfile.mkdtemp(prefix=f".tmp-index-v{version}-", dir=base_dir)


def write_shard(index, staging: str, shard: int) -> str:
    """Writes one shard's `SearchIndex` into the staging folder.

    The files go to a private folder renamed to `shard-NNNNN` at the end, so
    a worker retried after a crash replaces a complete shard or none.

    Returns:
        The shard folder.
    """
    final = os.path.join(staging, shard_name(shard))
    tmp = os.path.join(staging, f".{shard_name(shard)}-{uuid.uuid4().hex}")
    os.makedirs(tmp)
    try:
        write_index(index, tmp, version=0)
        if os.path.exists(final):  # a retried bundle: the newer copy wins
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def publish_sharded(staging: str, base_dir: str, version: int, num_shards: int,
                    k: int = 10) -> str:
    """Checks the staged shards, writes the top manifest, renames into place.

    Returns:
        The published version folder.

    Raises:
        IndexFormatError: a shard is missing, or shards disagree on dimension
            or encoder.
        FileExistsError: the version appeared meanwhile.
    """
    shards, count = [], 0
    for s in range(num_shards):
        name = shard_name(s)
        path = os.path.join(staging, name, "manifest.json")
        if not os.path.exists(path):
            raise IndexFormatError(f"{staging}: {name} was not written (no documents hashed "
                                   "to it, or its worker failed): nothing published.")
        with open(path) as f:
            manifest = json.load(f)
        shards.append({"name": name, "count": manifest["count"],
                       "dimension": manifest["dimension"], "encoder": manifest["encoder"]})
        count += manifest["count"]
    for key in ("dimension", "encoder"):
        if len({json.dumps(s[key], sort_keys=True) for s in shards}) != 1:
            raise IndexFormatError(f"{staging}: shards disagree on {key}: nothing published.")
    top = {"format": FORMAT, "kind": KIND, "version": version, "created": time.time(),
           "count": count, "dimension": shards[0]["dimension"], "encoder": shards[0]["encoder"],
           "k": k, "num_shards": num_shards,
           "shards": [{"name": s["name"], "count": s["count"]} for s in shards],
           "sha256": {f"{s['name']}/manifest.json":
                      sha256_file(os.path.join(staging, s["name"], "manifest.json"))
                      for s in shards}}
    for entry in os.listdir(staging):  # leftovers of retried workers
        if entry.startswith("."):
            shutil.rmtree(os.path.join(staging, entry), ignore_errors=True)
    with open(os.path.join(staging, "manifest.json"), "w") as f:
        json.dump(top, f, indent=1)
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final):
        raise FileExistsError(f"{final} exists; index versions are immutable.")
    os.chmod(staging, 0o755)
    os.rename(staging, final)
    return final


def abort_staging(staging: str) -> None:
    """Removes a staging folder (a failed build leaves nothing behind)."""
    shutil.rmtree(staging, ignore_errors=True)


def save_sharded(index, base_dir: str, version: int | None = None) -> str:
    """Writes a local `ShardedIndex` as a new sharded version; returns its folder."""
    version, staging = new_staging(base_dir, version)
    try:
        for s, shard in enumerate(index.shards):
            write_shard(shard, staging, s)
        return publish_sharded(staging, base_dir, version, len(index.shards), index.config.k)
    except BaseException:
        abort_staging(staging)
        raise


def is_sharded(path: str) -> bool:
    return read_manifest(path).get("kind") == KIND


def load_sharded(path: str, *, expected_dimension: int | None = None,
                 expected_encoder=None, verify: bool = True, num_threads: int = 0):
    """Loads a sharded version (or the latest under a base folder) as a `ShardedIndex`.

    Raises:
        FileNotFoundError: no index there.
        IndexFormatError: naming the shard that is missing or corrupt.
        IndexMismatchError: wrong dimension or encoder.
    """
    from lepton_tf.index.sharded import ShardedIndex

    path = resolve_index_dir(path)
    top = read_manifest(path)
    if top.get("kind") != KIND:
        raise IndexFormatError(f"{path}: not a sharded index.")
    shards = []
    for entry in top["shards"]:
        name = entry["name"]
        digest = top["sha256"].get(f"{name}/manifest.json")
        manifest_path = os.path.join(path, name, "manifest.json")
        if verify and (not os.path.exists(manifest_path) or sha256_file(manifest_path) != digest):
            raise IndexFormatError(f"{path}: shard {name} is missing or its manifest is "
                                   "corrupt (checksum mismatch). Rebuild the index.")
        try:
            shard = load_index(os.path.join(path, name), expected_dimension=expected_dimension,
                               expected_encoder=expected_encoder, verify=verify,
                               num_threads=num_threads)
        except (IndexFormatError, IndexMismatchError) as e:
            raise type(e)(f"{path}: shard {name} refused: {e}") from None
        if len(shard) != entry["count"]:
            raise IndexFormatError(f"{path}: shard {name} holds {len(shard)} documents, the "
                                   f"manifest says {entry['count']}. Rebuild the index.")
        shards.append(shard)
    return ShardedIndex(shards, k=top.get("k", 10))


def load_any(path: str, **kwargs):
    """A `SearchIndex` or a `ShardedIndex`, whichever `path` holds (same kwargs
    as `load_index`)."""
    if is_sharded(path):
        return load_sharded(path, **kwargs)
    return load_index(path, **kwargs)
