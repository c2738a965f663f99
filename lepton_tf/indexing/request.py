"""Which index build runs for a request: the corpus, folder, update or Beam build.

`lepton-tf index` parses its flags into an `IndexRequest` and calls
`build_index_version`; a program calls it the same way:

    from lepton_tf.indexing import IndexRequest, build_index_version

    path = build_index_version(IndexRequest(corpus="~/notes", out="indexes/notes"))
    path = build_index_version(IndexRequest(corpus="kb", runner="direct", num_shards=4,
                                            tune="pairs.jsonl"))

The choice, in order: a Beam `runner` -> the pipeline
(`pipelines.index_pipeline`); `add`, `delete` or `retune` -> an update of
the latest version (`index.update`); a folder of files -> the incremental
folder build (`index.folder_build`); else a BEIR folder or JSONL file ->
the corpus build (`index.build`). Every one of them publishes one version
through `index.version_builder.IndexVersionBuilder`. This package sits
above `index` and `pipelines` so that the choice has one home below the
command line.
"""

from __future__ import annotations

import dataclasses
import os

DEFAULT_CORPUS = os.path.join("data", "beir", "stackfaq")
DEFAULT_ENCODER = os.path.join("saved_models", "encoder")


@dataclasses.dataclass
class IndexRequest:
    """One index build, as `lepton-tf index` takes it (flag names, dashes as
    underscores).

    Attributes:
        corpus: a folder of files, a BEIR folder, a JSONL file (or, with a
            Beam runner, an object-store URL).
        encoder: the encoder SavedModel (version or base folder).
        out: the index base folder (None: `index.build.default_index_dir`).
        k: default number of results.
        version: the version to write (None: the next free one; not for a folder).
        add: JSONL/BEIR documents to add or replace in the latest version.
        delete: document ids to delete from the latest version.
        questions: a BEIR split whose queries become known questions.
        tune: a JSONL of `{query, positive}` pairs the fusion weight is chosen on.
        retune: choose the latest version's weight again (a new version).
        fusion: the fusion method, `convex` or `rrf`.
        dense_weight: a fixed dense weight (None: kept or tuned).
        chunk_tokens, chunk_overlap: a folder's passage size and overlap.
        strict: a file that cannot be parsed fails the build.
        acl: a YAML of path globs -> readers (a folder of files).
        rebuild: re-encode every file (ignore the previous version).
        runner: `local` (in process) or a Beam runner (`pipelines.runners`).
        num_shards: shards of the version (a Beam runner).
        beam_args: Beam pipeline options passed through to the runner.
    """

    corpus: str = DEFAULT_CORPUS
    encoder: str = DEFAULT_ENCODER
    out: str | None = None
    k: int = 10
    version: int | None = None
    add: str | None = None
    delete: list[str] | None = None
    questions: str | None = None
    tune: str | None = None
    retune: bool = False
    fusion: str = "convex"
    dense_weight: float | None = None
    chunk_tokens: int = 200
    chunk_overlap: int = 40
    strict: bool = False
    acl: str | None = None
    rebuild: bool = False
    runner: str = "local"
    num_shards: int = 1
    beam_args: list[str] = dataclasses.field(default_factory=list)

    @property
    def out_dir(self) -> str:
        """Where the version goes: `out`, else the default for the corpus."""
        from lepton_tf.index.build import default_index_dir

        return self.out or default_index_dir(self.corpus)

    @property
    def kind(self) -> str:
        """The build that runs: `beam`, `update`, `folder` or `corpus`."""
        from lepton_tf.index.build import is_file_folder

        if self.runner != "local":
            return "beam"
        if self.add or self.delete or self.retune:
            return "update"
        return "folder" if is_file_folder(self.corpus) else "corpus"

    def check(self) -> None:
        """Refuses flags that the chosen build would not honour.

        Raises:
            ValueError: naming the flags and what to do instead.
        """
        kind = self.kind
        if kind == "beam":
            if self.add or self.delete or self.retune:
                raise ValueError("--add/--delete/--retune update the latest version in "
                                 "process: use them without --runner.")
            return
        if self.beam_args:
            raise ValueError(f"Beam options {' '.join(self.beam_args)} need --runner "
                             "(not local).")
        if self.num_shards != 1:
            raise ValueError("--num-shards needs a Beam --runner (direct on this machine).")
        if self.acl and kind != "folder":
            raise ValueError("--acl maps a folder's files to readers; JSONL/BEIR records "
                             "carry their own \"readers\": [...] field.")
        if self.questions and kind in ("update", "folder"):
            raise ValueError("--questions SPLIT is for building from a BEIR folder (documents "
                             "added with --add list theirs in a \"questions\" field).")
        if self.version is not None and kind == "folder":
            raise ValueError("--version is for BEIR/JSONL builds; a folder index always "
                             "writes the next version.")

    def fixed_fusion(self):
        """The `FusionConfig` of `dense_weight` (None without it: kept or tuned)."""
        from lepton_tf.index.fusion import FusionConfig

        if self.dense_weight is None:
            return None
        return FusionConfig(self.fusion, self.dense_weight, tuned_on="fixed (--dense-weight)")

    def acl_rules(self):
        """The `acl` file's rules (None without one).

        Raises:
            ValueError: a malformed ACL file (before any model is loaded).
        """
        from lepton_tf.index.permissions import AclRules

        return AclRules.load(self.acl) if self.acl else None

    def chunking(self):
        """The `ChunkConfig` of `chunk_tokens` / `chunk_overlap`."""
        from lepton_tf.ingest import ChunkConfig

        return ChunkConfig(max_tokens=self.chunk_tokens, overlap=self.chunk_overlap)


def build_index_version(request: IndexRequest, encoder=None) -> str:
    """Runs the build `request.kind` names and publishes one index version.

    Args:
        request: what to build.
        encoder: an encoder object (`encode_documents`, `encode_queries`,
            `info`) for an in-process folder build, instead of loading
            `request.encoder` (tests, a caller holding one).

    Returns:
        The published version folder (for an unchanged folder: the current one).

    Raises:
        ValueError: flags the build would not honour (`IndexRequest.check`),
            a Beam runner without apache-beam, pairs naming no document.
        lepton_tf.ingest.ParseError: `strict` and a file that cannot be parsed
            (nothing written).
        FileNotFoundError: no corpus, encoder or (an update) index.
    """
    request.check()
    kind = request.kind
    if kind == "beam":
        try:
            from lepton_tf.pipelines.index_pipeline import run_index_pipeline
        except ModuleNotFoundError as e:
            if e.name != "apache_beam":
                raise
            raise ValueError(f"--runner {request.runner} needs apache-beam: "
                             "pip install 'lepton-tf[beam]'.") from None
        return run_index_pipeline(
            request.corpus, request.encoder, request.out_dir, runner=request.runner,
            num_shards=request.num_shards, k=request.k, version=request.version,
            beam_args=request.beam_args, rebuild=request.rebuild,
            chunk_config=request.chunking(), fusion=request.fixed_fusion(),
            method=request.fusion, acl=request.acl_rules(), tune_pairs=request.tune)
    if kind == "update":
        from lepton_tf.index.update import update_index

        return update_index(request.out_dir, encoder or request.encoder, request.add,
                            request.delete, request.tune, retune=request.retune,
                            fusion=request.fixed_fusion())
    if kind == "folder":
        from lepton_tf.index.encoding import SavedModelEncoder
        from lepton_tf.index.folder_build import build_folder_index

        acl = request.acl_rules()  # a bad ACL file fails before any model is loaded
        return build_folder_index(
            request.corpus, request.out_dir, encoder or SavedModelEncoder(request.encoder),
            config=request.chunking(), k=request.k, strict=request.strict,
            rebuild=request.rebuild, fusion=request.fixed_fusion(), method=request.fusion,
            tune_pairs=request.tune, acl=acl).path
    from lepton_tf.index.build import build_index
    from lepton_tf.index.fusion import FusionConfig

    return build_index(request.corpus, request.encoder, request.out_dir, k=request.k,
                       version=request.version, encoder=encoder, tune_pairs=request.tune,
                       fusion=request.fixed_fusion() or FusionConfig(request.fusion),
                       auto_tune=request.dense_weight is None, questions=request.questions)
