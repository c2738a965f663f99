"""Sharded index versions: one ordinary index folder per shard, one manifest.

    <base>/<version>/manifest.json    kind "sharded", shard list, sha256 of every
                                      shard's manifest (written last)
                     shard-00000/     an index folder as `storage.write_index`
                     shard-00001/     writes it (its own manifest checksums its files)

A version is staged by `lepton_tf.files.versions.publish_atomically` (the
workers of a Beam pipeline each write their shards into its temp folder),
the top manifest is written when every shard is in, then the folder is
renamed into place: a build that fails half-way publishes nothing and
leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid

from lepton_tf.files.versions import publish_atomically

from lepton_tf.index.errors import IndexFormatError, IndexMismatchError
from lepton_tf.index.storage import (FORMAT, list_index_versions, load_index, read_manifest,
                                     resolve_index_dir, sha256_file, write_index)

KIND = "sharded"


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def next_version(base_dir: str, version: int | None = None) -> int:
    """`version`, or the latest version under `base_dir` + 1."""
    existing = list_index_versions(base_dir)
    return version or (existing[-1] + 1 if existing else 1)


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


def write_top_manifest(staging: str, version: int, num_shards: int, k: int = 10,
                       extra_files: dict[str, str] | None = None) -> dict:
    """Checks the staged shards and writes the version's manifest (last).

    Args:
        extra_files: file name -> text written beside the shards first and
            checksummed in the manifest (the ingest manifest).

    Returns:
        The manifest written.

    Raises:
        IndexFormatError: a shard is missing, or shards disagree on dimension
            or encoder (the caller's `publish_atomically` then publishes
            nothing).
    """
    shards, count = [], 0
    for s in range(num_shards):
        name = shard_name(s)
        path = os.path.join(staging, name, "manifest.json")
        if not os.path.exists(path):
            raise IndexFormatError(f"{name} was not written (no documents hashed to it, "
                                   "or its worker failed): nothing published.")
        with open(path) as f:
            manifest = json.load(f)
        shards.append({"name": name, "count": manifest["count"],
                       "dimension": manifest["dimension"], "encoder": manifest["encoder"]})
        count += manifest["count"]
    for key in ("dimension", "encoder"):
        if len({json.dumps(s[key], sort_keys=True) for s in shards}) != 1:
            raise IndexFormatError(f"Shards disagree on {key}: nothing published.")
    for entry in os.listdir(staging):  # leftovers of retried workers
        if entry.startswith("."):
            shutil.rmtree(os.path.join(staging, entry), ignore_errors=True)
    for name, text in (extra_files or {}).items():
        with open(os.path.join(staging, name), "w", encoding="utf-8") as f:
            f.write(text)
    top = {"format": FORMAT, "kind": KIND, "version": version, "created": time.time(),
           "count": count, "dimension": shards[0]["dimension"], "encoder": shards[0]["encoder"],
           "k": k, "num_shards": num_shards,
           "shards": [{"name": s["name"], "count": s["count"]} for s in shards],
           "sha256": {f"{s['name']}/manifest.json":
                      sha256_file(os.path.join(staging, s["name"], "manifest.json"))
                      for s in shards}}
    top["sha256"].update({name: sha256_file(os.path.join(staging, name))
                          for name in (extra_files or {})})
    with open(os.path.join(staging, "manifest.json"), "w") as f:
        json.dump(top, f, indent=1)
    return top


def save_sharded(index, base_dir: str, version: int | None = None,
                 extra_files: dict[str, str] | None = None) -> str:
    """Writes a local `ShardedIndex` as a new sharded version; returns its folder.

    Args:
        index: the `ShardedIndex` (local shards).
        base_dir: the folder holding versions.
        version: the version number (default: latest + 1).
        extra_files: as `write_top_manifest` (`VersionParts.files()`).

    Raises:
        FileExistsError: that version exists (versions are immutable).
    """
    version = next_version(base_dir, version)
    with publish_atomically(base_dir, version, kind="index") as staging:
        for s, shard in enumerate(index.shards):
            write_shard(shard, staging, s)
        write_top_manifest(staging, version, len(index.shards), index.config.k, extra_files)
    return os.path.join(base_dir, str(version))


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
