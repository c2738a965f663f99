"""What a new index version takes from the previous one, decided in one place.

Every build path asks `ReusePlan.decide` and follows its answer: the folder
build in process (`index.folder_build`), the Beam pipeline
(`pipelines.index_pipeline`) and an update (`index.update`). The rules:

- No passage and no tuning is reused without a previous version, with
  `rebuild`, or when another encoder made it (its vectors are another
  space's).
- Passages (with their stored vectors and known-question vectors): a
  folder build reuses the passages of unchanged files (sha256 in the
  ingest manifest) when the previous version was cut with the same
  chunking into the same layout (one index, or as many shards); an update
  reuses every passage it does not add or delete, and an added passage
  whose title, text and questions are the stored ones (a permission or
  metadata change) keeps its vector (`same_content`).
- Tuning is kept whenever passages are: the not-found rule always, the
  fusion weight unless `retune` (both were chosen on the same corpus).
- The ACL is the previous version's unless a new one is given, whatever
  else is rebuilt: re-encoding never drops who may read what.

A BEIR/JSONL corpus build (`index.build.build_index`) builds anew.
"""

from __future__ import annotations

import dataclasses

from lepton_tf.index.errors import IndexFormatError
from lepton_tf.index.version_parts import VersionParts


@dataclasses.dataclass(frozen=True)
class ReusePlan:
    """The answer of `decide`.

    Attributes:
        previous: the previous version's folder (None: there is none, or
            nothing of it is reused).
        parts: its `VersionParts` (empty without one).
        passages: its passages and vectors are taken over.
        keep_fusion: its fusion weight is kept (not with `retune`).
        keep_rule: its not-found rule is kept.
        sharded: the previous version is sharded.
        reason: why passages are not reused ("" when they are).
    """

    previous: str | None = None
    parts: VersionParts = dataclasses.field(default_factory=VersionParts)
    passages: bool = False
    keep_fusion: bool = False
    keep_rule: bool = False
    sharded: bool = False
    reason: str = "no previous version"

    @classmethod
    def decide(cls, out_dir: str, encoder, *, chunking: dict | None = None,
               num_shards: int | None = None, rebuild: bool = False, retune: bool = False,
               log=print) -> ReusePlan:
        """The plan of a build writing the next version under `out_dir`.

        Args:
            out_dir: the index base folder (a remote URL: nothing reused).
            encoder: the build's `EncoderInfo`.
            chunking: a folder build's `ChunkConfig.to_dict()` (passages are
                reused by file); None for an update of the latest version.
            num_shards: a folder build's layout: shards of a sharded build,
                None for one index.
            rebuild: reuse no passage and no tuning (the ACL stays).
            retune: choose the fusion weight again (passages still reused).
            log: where the reason to build anew goes.

        Returns:
            A `ReusePlan`.
        """
        from lepton_tf.index.storage import list_index_versions, read_manifest, \
            resolve_index_dir

        if "://" in out_dir or not list_index_versions(out_dir):
            return cls()
        previous = resolve_index_dir(out_dir)
        try:
            manifest = read_manifest(previous)
            parts = VersionParts.read(previous)
        except IndexFormatError as e:
            log(f"{e} Building anew.")
            return cls(reason=str(e))
        sharded = manifest.get("kind") == "sharded"
        ours, theirs = encoder.fingerprint, manifest.get("encoder", {}).get("fingerprint", "")
        reason = ""
        if rebuild:
            reason = "rebuild"
        elif ours and theirs and ours != theirs:
            built = manifest.get("encoder", {})
            reason = (f"built with encoder {built.get('name')} v{built.get('version')}, now "
                      f"{encoder.name} v{encoder.version}")
        elif chunking is not None:
            reason = _folder_reason(parts, chunking, sharded, manifest.get("num_shards"),
                                    num_shards)
        if reason:
            if not rebuild:
                log(f"{previous}: {reason}: building anew.")
            return cls(previous, parts, sharded=sharded, reason=reason)
        return cls(previous, parts, passages=True, keep_fusion=not retune, keep_rule=True,
                   sharded=sharded, reason="")

    def without_passages(self, reason: str) -> ReusePlan:
        """This plan once the previous passages turned out unusable (a version
        that fails to load, or none of its passages is left): built anew,
        only its ACL kept.

        Args:
            reason: why, as `reason` says it.

        Returns:
            A new `ReusePlan`.
        """
        return dataclasses.replace(self, passages=False, keep_fusion=False, keep_rule=False,
                                   reason=reason)

    @property
    def acl(self):
        """The ACL to keep when no new one is given (None: none)."""
        return self.parts.acl

    @staticmethod
    def same_content(stored, document) -> bool:
        """Whether `document` may keep `stored`'s vectors: same title, text and
        known questions (its readers or metadata may differ)."""
        return stored is not None and stored.embedding_text() == document.embedding_text() \
            and stored.questions == document.questions


def _folder_reason(parts: VersionParts, chunking: dict, sharded: bool, stored_shards,
                   num_shards: int | None) -> str:
    """Why a folder build cannot reuse the previous version's passages ("": it can)."""
    if parts.ingest is None:
        return "the latest version was not built from a folder"
    if (num_shards is not None) != sharded:
        return "it is sharded" if sharded else "it is not sharded"
    if sharded and stored_shards != num_shards:
        return f"it has {stored_shards} shards"
    if parts.ingest.chunking != chunking:
        return f"chunking changed ({parts.ingest.chunking} -> {chunking})"
    return ""

