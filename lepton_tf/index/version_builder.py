"""One index version: its optional parts chosen once, then published once.

Every build path hands its passages to an `IndexVersionBuilder`: the
BEIR/JSONL build (`index.build`), the folder build (`index.folder_build`),
an update (`index.update`), learned questions (`index.learned_questions`)
and, for the parts a pipeline cannot choose
inside its workers, the Beam build (`pipelines.index_pipeline`). The
builder owns the optional parts (`VersionParts`) and the order they are
chosen in, following one `ReusePlan`:

1. known questions: the documents' questions embedded with the query
   tower, the previous vectors of unchanged questions reused;
2. the fusion weight: as given (`--dense-weight`), else tuned on pairs
   (`--tune`), else the previous version's (`plan.keep_fusion`), else
   self-tuned on pseudo-queries of the passages;
3. the not-found rule: one the caller fitted, else the previous
   version's (`plan.keep_rule`), else
   fitted on a thread-named collection (`calibrate`), else, for a folder
   without known questions, the top-1 threshold fitted on the
   self-tuning pseudo-queries;
4. the ingest manifest and the ACL as the build path gives them;

then `publish` writes the one new version (atomically). Tuning comes
before the publish, so `--tune` never writes a second version.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.fusion_selftune import TUNING_BAR
from lepton_tf.index.not_found_rule import NotFoundRule
from lepton_tf.index.permissions import AclRules
from lepton_tf.index.reuse_plan import ReusePlan
from lepton_tf.index.version_parts import VersionParts


@dataclasses.dataclass
class IndexVersionBuilder:
    """Chooses a version's optional parts and publishes it.

    Attributes:
        out_dir: the index base folder (versions inside).
        encoder: `encode_documents`, `encode_queries` and `info`
            (`SavedModelEncoder`).
        plan: what to take from the previous version (`ReusePlan.decide`).
        fusion: a fixed `FusionConfig` (`--dense-weight`): set, never tuned.
        method: the fusion method (`convex`, `rrf`) of a version built anew.
        tune_pairs: a JSONL of `{query, positive}` the weight is tuned on.
        self_tune: choose the weight on pseudo-queries when nothing else
            chose it (False: the default weight).
        tune_sample: passages self-tuning cuts its pseudo-queries from at
            most (None: `fusion_selftune`'s `4 n`).
        fit_not_found: fit the top-1 threshold on the self-tuning
            pseudo-queries (a folder of the user's files).
        not_found_rule: a rule the caller fitted (`lepton-tf learn`): it
            replaces the kept one.
        acl: new permission rules (None: the previous version's, if any).
        version: the version number to write (None: the next free one).
        log: where messages go.
        tuning_bar: the label of self-tuning's encoding bar (None: no bar).
    """

    out_dir: str
    encoder: object
    plan: ReusePlan = dataclasses.field(default_factory=ReusePlan)
    fusion: FusionConfig | None = None
    method: str = "convex"
    tune_pairs: str | None = None
    self_tune: bool = True
    tune_sample: int | None = None
    fit_not_found: bool = False
    not_found_rule: NotFoundRule | None = None
    acl: AclRules | None = None
    version: int | None = None
    log: Callable = print
    tuning_bar: str | None = TUNING_BAR

    def new_index(self, vectors, documents: list, k: int):
        """A `SearchIndex` of these passages (ScaNN auto config, BM25), with
        the fusion method or fixed config this build starts from."""
        from lepton_tf.index.scann_config import IndexBuilder
        from lepton_tf.index.search_index import SearchIndex

        config = IndexBuilder(*vectors.shape).auto().config(k=k)
        return SearchIndex.build(vectors, documents, config, encoder=self.encoder.info,
                                 fusion=self.fusion or FusionConfig(self.method))

    @property
    def kept_acl(self):
        """The ACL this version stores: the given one, else the previous one."""
        return self.acl if self.acl is not None else self.plan.acl

    def parts(self, index, ingest=None, calibrate: Callable | None = None) -> VersionParts:
        """Embeds known questions, then chooses the fusion weight and the
        not-found rule (in that order: both read the questions).

        Args:
            index: the new version's `SearchIndex` or `ShardedIndex`.
            ingest: its `IngestManifest` (a folder build; None: none).
            calibrate: `index -> NotFoundRule or None`, a fit on the corpus's
                own test questions, tried when no rule is kept.

        Returns:
            The `VersionParts` to publish; `index.fusion` (and each shard's) is set.

        Raises:
            ValueError: `tune_pairs` none of whose positives is in the index.
        """
        sharded = getattr(index, "sharded", False)
        if not sharded and (index.known_questions is not None
                            or any(d.questions for d in index.documents.values())):
            index.refresh_questions(self.encoder.encode_queries)  # new questions only
            self.log(f"known questions: {len(index.known_questions or ())} embedded")
        pseudo_top1: list = []
        if self.fusion is not None:
            set_fusion(index, self.fusion)
        if self.tune_pairs:
            tune_on_pairs(index, self.tune_pairs, self.encoder, self.log)
        elif self._self_tunes() and sharded:
            set_fusion(index, self_tune_shards(index, self.encoder, self.log, pseudo_top1,
                                               self.tune_sample))
        elif self._self_tunes():
            from lepton_tf.index.fusion_selftune import tune_default

            index.fusion = tune_default(index, self.encoder, self.log, top1=pseudo_top1,
                                        max_cut=self.tune_sample, progress=self.tuning_bar)
        return VersionParts(index.fusion, self._rule(index, pseudo_top1, calibrate), ingest,
                            self.kept_acl)

    def _self_tunes(self) -> bool:
        """Whether the weight is self-tuned: nothing fixed it, keeps it or tunes it on pairs."""
        return self.fusion is None and not self.plan.keep_fusion and self.self_tune

    def _rule(self, index, pseudo_top1: list, calibrate):
        if self.not_found_rule is not None:
            return self.not_found_rule
        if self.plan.keep_rule:
            return self.plan.parts.not_found_rule
        if calibrate is not None:
            rule = calibrate(index)
            if rule is not None:
                return rule
        if self.fit_not_found:
            return self_fitted_rule(pseudo_top1, index.known_questions is not None, self.log)
        return None

    def publish(self, index, ingest=None, calibrate: Callable | None = None) -> str:
        """Chooses the parts (`parts`) and writes the one new version.

        Returns:
            The version folder.

        Raises:
            FileExistsError: `version` exists (versions are immutable).
            ValueError: as `parts`.
        """
        from lepton_tf.index.sharded_storage import save_sharded
        from lepton_tf.index.storage import save_index

        files = self.parts(index, ingest, calibrate).files()
        if getattr(index, "sharded", False):
            return save_sharded(index, self.out_dir, self.version, extra_files=files)
        return save_index(index, self.out_dir, self.version, extra_files=files)

    def pipeline_fusion(self) -> FusionConfig | None:
        """The fusion config every shard of a Beam build gets (None: self-tune
        it in the pipeline, on a sample of the passages). With `tune_pairs`
        the shards are built with the method's default weight and tuned in
        the launcher before the version is published (`tune_on_pairs`)."""
        if self.tune_pairs:
            return FusionConfig(self.method)
        if self.fusion is not None:
            return self.fusion
        if self.plan.keep_fusion and self.plan.parts.fusion is not None:
            return self.plan.parts.fusion
        return None if self.self_tune else FusionConfig(self.method)

    def pipeline_parts(self, ingest=None, fitted_rule=None) -> VersionParts:
        """The top-level parts of a Beam-built version (its shards hold the fusion).

        Args:
            ingest: its `IngestManifest` (a folder; None: none).
            fitted_rule: the rule the pipeline fitted on its self-tuning
                pseudo-queries (`self_fitted_rule`; None: none).
        """
        rule = self.plan.parts.not_found_rule if self.plan.keep_rule else fitted_rule
        return VersionParts(None, rule, ingest, self.kept_acl)


def self_fitted_rule(pseudo_top1: list, has_questions: bool, log=print):
    """The top-1 threshold fitted on self-tuning pseudo-queries
    (`not_found_pseudo_threshold`), for a folder of the user's files without known
    questions (with them, the default rule reads the questions).

    Returns:
        A `NotFoundRule`, or None (too few pseudo-queries, or known questions).
    """
    from lepton_tf.index.not_found_pseudo_threshold import fit_threshold

    rule = None if has_questions or not pseudo_top1 else fit_threshold(pseudo_top1)
    if rule is not None:
        log(f"not-found: {rule.fitted_on['rule']} ({rule.fitted_on['fitted']})")
    return rule


def set_fusion(index, fusion: FusionConfig) -> None:
    """Sets how `index` fuses: a `SearchIndex`, or a `ShardedIndex` and each
    of its shards (each shard's manifest holds it)."""
    index.fusion = fusion
    for shard in getattr(index, "shards", ()):
        shard.fusion = fusion


def self_tune_shards(index, encoder, log=print, top1: list | None = None,
                     max_cut: int | None = None) -> FusionConfig:
    """The self-tuned weight of a local `ShardedIndex`: chosen on (a seeded
    sample of) every shard's passages and vectors, as the Beam build chooses
    it (`fusion_selftune.tune_on_sample`)."""
    import numpy as np

    from lepton_tf.index.fusion_selftune import tune_on_sample

    documents = [shard.documents[doc_id] for shard in index.shards for doc_id in shard.row_ids]
    vectors = np.concatenate([np.asarray(shard.embeddings, np.float32)
                              for shard in index.shards])
    return tune_on_sample(documents, vectors, encoder, fusion=index.fusion, log=log, top1=top1,
                          max_cut=max_cut)


def tune_on_pairs(index, pairs_path: str, encoder, log=print) -> None:
    """Sets `index.fusion` (a `SearchIndex`'s, or a `ShardedIndex`'s and its
    shards') to the weight that does best on the pairs file.

    Raises:
        ValueError: pairs whose positives are not in the index.
    """
    from lepton_tf.data.pairs import read_pairs
    from lepton_tf.index.fusion_tuning import tune_fusion

    config, table = tune_fusion(index, read_pairs(pairs_path), encoder.encode_queries,
                                source=pairs_path)
    set_fusion(index, config)
    log("fusion: nDCG@10 by dense weight on " + config.tuned_on + ": "
        + " ".join(f"{w:g}:{v:.3f}" for w, v in table.items()))
    log(f"fusion: dense weight {config.dense_weight:g} ({config.method})")
