"""Document permissions: who may read each passage, and the filter that enforces it.

Each `Document` carries `readers`: group names, `user:NAME` principals, and
`"*"` for everyone. They come from

- an ACL file for a folder corpus (`lepton-tf index --corpus DIR --acl FILE`):

  ```yaml
  "**": ["*"]                    # every file: everyone
  "runbooks/**": [ops]           # any depth under runbooks/
  "contracts/acme/*.pdf": [acme, "user:dana"]
  ```

  globs are relative to the folder (`**` any depth, `*` within one folder
  name); a file gets the readers of every glob it matches (the union), and a
  file no glob matches is readable by nobody (the build says how many);
- a record's own `readers` field (a JSONL list, a CSV `readers` column of
  `;`-separated names), which wins over the file's globs.

A document without `readers` (an index built without permissions) is open
to every caller; an ACL build gives every document its list, `()` when
nothing grants it. An incremental build without `--acl` keeps the rules the
previous version was built with (dropping permissions takes an explicit
`"**": ["*"]`). They are stored in the index version's documents file (checksummed in the
manifest). Search applies a caller's permission as one more filter key
(`filters.READERS_FIELD`), before any ranking, in every mode and over shards:
hits are exact over the permitted subset.
"""

from __future__ import annotations

import dataclasses
import hashlib

from lepton_tf.index.filters import READERS_FIELD, FilterError, parse_filter

RECORD_READERS = "$readers"  # a JSONL/CSV record's own readers, in its metadata

EVERYONE = "*"
ACL_FILE = "acl.yaml"  # the rules a version was built with (its checksummed copy)


class AclError(ValueError):
    """An ACL file that is not a mapping of globs to lists of readers."""


@dataclasses.dataclass(frozen=True)
class AclRules:
    """Path globs -> readers, for the files of a folder corpus.

    Attributes:
        rules: `(glob, readers)` pairs in file order.
        text: the file's text (stored in the version; its hash says whether
            the rules changed since).
    """

    rules: tuple
    text: str = ""

    @classmethod
    def parse(cls, text: str, where: str = "ACL") -> "AclRules":
        """Rules from YAML text.

        Raises:
            AclError: naming what is wrong.
        """
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise AclError(f"{where}: not YAML ({e})") from None
        if not isinstance(doc, dict) or not doc:
            raise AclError(f'{where}: expected a mapping of path globs to reader lists, such '
                           f'as {{"**": ["*"], "runbooks/**": [ops]}}')
        rules = []
        for glob, readers in doc.items():
            if not isinstance(glob, str) or not glob.strip() or glob.startswith("/"):
                raise AclError(f"{where}: {glob!r} is not a glob relative to the folder")
            if not isinstance(readers, list) or not all(isinstance(r, str) and r.strip()
                                                        for r in readers):
                raise AclError(f"{where}: {glob!r} must map to a list of group names, "
                               f"user:NAME or \"*\", got {readers!r:.60}")
            rules.append((glob.strip(), tuple(sorted({r.strip() for r in readers}))))
        return cls(tuple(rules), text)

    @classmethod
    def load(cls, path: str) -> "AclRules":
        """Rules from a YAML file (`AclError` / `OSError` if unusable)."""
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read(), path)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def readers_for(self, relpath: str) -> tuple:
        """The readers of a file (its path relative to the folder, `/`-separated):
        the union over every glob it matches; `()` (nobody) when none does."""
        from wcmatch import glob as wc

        flags = wc.GLOBSTAR | wc.DOTGLOB
        found = set()
        for pattern, readers in self.rules:
            if wc.globmatch(relpath, pattern, flags=flags):
                found.update(readers)
        return tuple(sorted(found))


def permitted_filter(user_filter, readers: list[str] | None) -> dict:
    """The caller's filter with its permission added.

    Args:
        user_filter: the request's filter (JSON text, bytes, dict or None).
        readers: the caller's reader names (`Principal.readers()`), or None
            for an unrestricted caller (a server passing its own callers'
            permission on in `$readers`, e.g. to remote shards).

    Returns:
        A parsed filter: field -> values.

    Raises:
        FilterError: a bad filter, or a restricted caller naming a reserved
            `$` field.
    """
    parsed = parse_filter(user_filter)
    if readers is None:
        return parsed
    reserved = [f for f in parsed if f.startswith("$")]
    if reserved:
        raise FilterError(f"filter field {reserved[0]!r}: fields starting with $ are reserved.")
    return {**parsed, READERS_FIELD: list(readers)}


def unmatched(documents) -> int:
    """How many documents nobody may read (`readers == ()`)."""
    return sum(1 for d in documents if getattr(d, "readers", None) == ())


def shown_metadata(metadata: dict) -> dict:
    """A document's metadata as callers see it: without `$` keys (its readers)."""
    return {k: v for k, v in (metadata or {}).items() if not str(k).startswith("$")}


def readers_of_document(document, acl: AclRules | None):
    """A document's readers: its record's own, else its source file's ACL
    globs (`metadata["source"]`), else None (no permissions)."""
    own = (document.metadata or {}).get(RECORD_READERS)
    if own is not None:
        return tuple(sorted(set(own)))
    if acl is None:
        return None
    return acl.readers_for(str((document.metadata or {}).get("source", document.doc_id)))


def apply_acl(index, acl: AclRules | None) -> int:
    """Sets every document's readers from `acl` (and records' own), re-encoding
    nothing: only documents whose readers change are replaced.

    Args:
        index: a `SearchIndex` (or anything with `documents`, `replace_documents`).
        acl: the rules (None: records' own readers only).

    Returns:
        How many documents changed readers.
    """
    changed = []
    for document in index.documents.values():
        readers = readers_of_document(document, acl)
        if readers != document.readers:
            changed.append(dataclasses.replace(document, readers=readers))
    if changed:
        index.replace_documents(changed)
    return len(changed)
