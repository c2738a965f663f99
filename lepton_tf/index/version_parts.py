"""The optional parts of an index version, beside its passages and vectors.

Every way of building a version (a BEIR/JSONL corpus, a folder of files in
process, the Beam pipeline, an update) writes the same parts, typed here
and written by one function, so none of them can forget one:

    manifest.json "fusion"   how hybrid search fuses (one manifest a shard)
    not_found.json           the fitted not-found rule (absent: the default rule)
    ingest.json              a folder build's files: sha256 and passage ids
    acl.yaml                 the document permissions' rules (`--acl`)

Known questions are embedded into the version by `SearchIndex` itself
(`known_questions.npz`, from the documents' `questions`); a sharded version
keeps them in its documents.
"""

from __future__ import annotations

import dataclasses
import json
import os

from lepton_tf.index.errors import IndexFormatError
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.not_found_rule import FILE_NAME as RULE_FILE
from lepton_tf.index.not_found_rule import NotFoundRule, rule_file
from lepton_tf.index.permissions import ACL_FILE, AclRules
from lepton_tf.ingest.manifest import FILE_NAME as INGEST_FILE
from lepton_tf.ingest.manifest import IngestManifest


@dataclasses.dataclass
class VersionParts:
    """What an index version holds besides its passages, each part typed.

    Attributes:
        fusion: how hybrid fuses (None: the index's own, `FusionConfig()`).
        not_found_rule: the fitted rule (None: the search servable's default).
        ingest: a folder build's ingest manifest (None: not built from a
            folder, so the next folder run builds anew).
        acl: the permission rules its passages' readers came from.
    """

    fusion: FusionConfig | None = None
    not_found_rule: NotFoundRule | None = None
    ingest: IngestManifest | None = None
    acl: AclRules | None = None

    def files(self) -> dict[str, str]:
        """The version's extra files (name -> text), checksummed with it."""
        files = {}
        if self.not_found_rule is not None:
            files.update(rule_file(self.not_found_rule))
        if self.ingest is not None:
            files[INGEST_FILE] = self.ingest.to_json()
        if self.acl is not None:
            files[ACL_FILE] = self.acl.text
        return files

    @classmethod
    def read(cls, version_dir: str) -> VersionParts:
        """The parts of a published version (one index or sharded).

        Args:
            version_dir: the version folder.

        Returns:
            Its `VersionParts` (a part it lacks is None).

        Raises:
            IndexFormatError: a part fails its manifest checksum or cannot be
                parsed (a version that is not what its manifest says).
        """
        from lepton_tf.files.digest import file_sha256
        from lepton_tf.index.storage import read_manifest

        manifest = read_manifest(version_dir)
        texts = {}
        for name in (RULE_FILE, INGEST_FILE, ACL_FILE):
            path = os.path.join(version_dir, name)
            if not os.path.exists(path):
                continue
            if file_sha256(path) != manifest.get("sha256", {}).get(name):
                raise IndexFormatError(f"{path} fails its checksum: rebuild with --rebuild.")
            with open(path, encoding="utf-8") as f:
                texts[name] = f.read()
        try:
            rule = texts.get(RULE_FILE)
            ingest = texts.get(INGEST_FILE)
            acl = texts.get(ACL_FILE)
            return cls(_stored_fusion(version_dir, manifest),
                       None if rule is None else NotFoundRule.from_dict(
                           json.loads(rule)),
                       None if ingest is None else IngestManifest.from_json(ingest),
                       None if acl is None else AclRules.parse(acl, f"{version_dir}/{ACL_FILE}"))
        except (ValueError, KeyError, TypeError) as e:
            raise IndexFormatError(f"{version_dir}: an unreadable part ({e}).") from None


def _stored_fusion(version_dir: str, manifest: dict) -> FusionConfig | None:
    """The version's fusion config: its manifest's, or a sharded version's
    first shard's (every shard holds the same)."""
    if manifest.get("kind") == "sharded":
        shard = manifest.get("shards") or [{}]
        path = os.path.join(version_dir, shard[0].get("name", ""), "manifest.json")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            manifest = json.load(f)
    stored = manifest.get("fusion")
    return None if stored is None else FusionConfig.from_dict(stored)
