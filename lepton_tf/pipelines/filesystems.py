"""The pipeline's files through Beam's `FileSystems`: local, gs://, s3://, hdfs://.

On Dataflow, Flink or Spark the workers share no disk: the corpus is read
and the shards are written through `apache_beam.io.filesystems.FileSystems`,
which picks the filesystem by the path's scheme (`gs://` needs
`apache-beam[gcp]`, `s3://` `apache-beam[aws]`, on the workers too). Plain
paths keep the local code (atomic renames).

Object stores have no atomic rename of a folder, so a version on one is
published *manifest last*, as TF Serving publishes there: the shard files
are written straight under `<out>/<version>/`, each shard's `manifest.json`
(the sha256 of its files) after its files, then the version's parts
(`index.version_parts`: ingest manifest, not-found rule, ACL), then the
version's `manifest.json` (the sha256 of every shard manifest and part). A version is
complete exactly when its top manifest exists: `list_index_versions` lists
only those, so a server polling a mounted bucket (gcsfuse, mountpoint-s3)
never loads a half-written version, and `load_sharded` verifies every
checksum it reads. A failed run deletes what it wrote (best effort; what a
killed launcher leaves has no manifest and is never loaded).
"""

from __future__ import annotations

import os
import tempfile

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

MANIFEST = "manifest.json"


def is_local(path: str) -> bool:
    """True for a plain path (or `file://`), which the local code handles."""
    return FileSystems.get_scheme(path) in (None, "file")


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def read_bytes(path: str) -> bytes:
    """The file's raw bytes (no decompression by suffix)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def write_bytes(path: str, data: bytes) -> None:
    """Writes one object / file (parents need not exist)."""
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def list_files(folder: str) -> list[str]:
    """Paths relative to `folder` of every file under it, sorted ('/' separated)."""
    prefix = folder.rstrip("/") + "/"
    found = FileSystems.match([prefix + "**"])[0].metadata_list
    return sorted(m.path[len(prefix):] for m in found if m.path.startswith(prefix))


def local_copy(path: str, folder: str) -> str:
    """Copies one remote file into local `folder` (same base name); returns the copy."""
    local = os.path.join(folder, path.rstrip("/").rsplit("/", 1)[-1])
    with open(local, "wb") as f:
        f.write(read_bytes(path))
    return local


def upload_folder(local: str, remote: str) -> None:
    """Copies a local folder's files under `remote`, every `manifest.json` last
    (a reader seeing the manifest sees every file it lists)."""
    files = []
    for folder, _, names in os.walk(local):
        files += [os.path.relpath(os.path.join(folder, n), local).replace(os.sep, "/")
                  for n in names]
    for rel in sorted(files, key=lambda r: (r.rsplit("/", 1)[-1] == MANIFEST, r)):
        with open(os.path.join(local, *rel.split("/")), "rb") as f:
            write_bytes(join(remote, rel), f.read())


def write_shard_to(index, staging: str, shard: int) -> None:
    """`sharded_storage.write_shard`, to a local staging folder or an object store."""
    from lepton_tf.index.sharded_storage import shard_name, write_shard

    if is_local(staging):
        write_shard(index, staging, shard)
        return
    from lepton_tf.index.storage import write_index

    with tempfile.TemporaryDirectory(prefix="lepton-shard-") as tmp:
        folder = os.path.join(tmp, "shard")
        os.makedirs(folder)
        write_index(index, folder, version=0)
        upload_folder(folder, join(staging, shard_name(shard)))


def remote_versions(base: str) -> list[int]:
    """The complete versions (with a top manifest) under a remote `base`."""
    prefix = base.rstrip("/") + "/"
    found = FileSystems.match([prefix + "*/" + MANIFEST])[0].metadata_list
    names = [m.path[len(prefix):].split("/")[0] for m in found]
    return sorted(int(n) for n in names if n.isdigit())


def remove(path: str) -> None:
    """Deletes one file or object."""
    FileSystems.delete([path])


def delete_quietly(path: str) -> None:
    """Deletes `path` and what is under it, ignoring what is not there."""
    try:
        paths = [join(path, rel) for rel in list_files(path)]
        if paths:
            FileSystems.delete(paths)
    except Exception:  # best effort: an incomplete version is never loaded
        pass


def publish_manifest_last(base: str, version: int | None, build, num_shards: int,
                          k: int, parts=None) -> str:
    """Publishes a sharded version on an object store, manifest last.

    Args:
        base: the remote index base (`gs://bucket/index`).
        version: the version number (default: the latest complete + 1).
        build: `build(version_prefix)` writes every shard under it (the
            pipeline); an exception publishes nothing.
        num_shards / k: as the version's manifest records them.
        parts: `parts(version_prefix)` -> the version's other files (name ->
            text: `VersionParts.files()`), called once every shard is in,
            written and checksummed before the top manifest (None: none).

    Returns:
        The version's prefix.

    Raises:
        FileExistsError: that version is complete already (immutable).
        IndexFormatError: a shard was not written.
    """
    from lepton_tf.index.sharded_storage import shard_name, write_top_manifest

    versions = remote_versions(base)
    version = version or (versions[-1] + 1 if versions else 1)
    final = join(base, str(version))
    if exists(join(final, MANIFEST)):
        raise FileExistsError(f"{final} exists already; versions are immutable.")
    delete_quietly(final)  # what a killed run of this version left (no manifest)
    try:
        build(final)
        extra = parts(final) if parts is not None else None
        with tempfile.TemporaryDirectory(prefix="lepton-manifest-") as tmp:
            for s in range(num_shards):  # the shard manifests, to checksum them
                name = shard_name(s)
                if exists(join(final, name, MANIFEST)):
                    os.makedirs(os.path.join(tmp, name))
                    local_copy(join(final, name, MANIFEST), os.path.join(tmp, name))
            write_top_manifest(tmp, version, num_shards, k, extra_files=extra)
            for name in extra or {}:  # checksummed above, written before the manifest
                with open(os.path.join(tmp, name), "rb") as f:
                    write_bytes(join(final, name), f.read())
            with open(os.path.join(tmp, MANIFEST), "rb") as f:
                write_bytes(join(final, MANIFEST), f.read())
    except BaseException:
        delete_quietly(final)
        raise
    return final
