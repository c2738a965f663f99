"""`lepton-tf index --runner RUNNER`: the index build as an Apache Beam pipeline.

    Create(list_sources(corpus))                     one source a file (or the JSONL)
      -> Reshuffle -> FlatMap(ReadSource())          read + chunk in parallel, numbered
         -> BatchElements -> Map(corpus_stats)       BM25 statistics of the whole corpus
            -> CombineGlobally(merge_all)            (a side input of BuildShard)
      -> Reshuffle                                   spread the passages over the workers
      -> RunInference(EncoderModelHandler)           embed (SavedModel once a worker)
      -> Map(key_by_shard) -> GroupByKey             shard_of(doc_id), as lookups do
         -> Values -> Sample(50,000) -> Map(choose_fusion)  the fusion weight, self-tuned
                                                     on (a sample of) the passages (a
                                                     side input of BuildShard); for a
                                                     folder, the not-found rule fitted
                                                     on the same pseudo-queries
      -> Map(build_shard)                            one ScaNN searcher and one BM25
                                                     index (corpus statistics) a shard,
                                                     in parallel, written to the staging
                                                     folder of the new version
    then, in the launcher, once every worker has succeeded (`staged_version`):
      --tune PAIRS: the weight chosen on the shards  each shard's manifest rewritten
      write_top_manifest                             the version's parts (ingest manifest,
                                                     rule, ACL: `IndexVersionBuilder`),
                                                     top manifest last; a local version
                                                     is then renamed into place

Same documents, same encoder graph, same per-shard builder as
`ShardedIndex.build`: the result equals the in-process sharded build.
"""

from __future__ import annotations

import dataclasses
import os
import time

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import RunInference

from lepton_tf.index.scann_config import IndexBuilder
from lepton_tf.index.encoding import SavedModelEncoder, read_encoder_info, resolve_encoder_path
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.lexical import LexicalIndex
from lepton_tf.index.lexical_stats import merge_all
from lepton_tf.index.search_index import EncoderInfo, SearchIndex
from lepton_tf.index.fusion_selftune import MAX_SAMPLE
from lepton_tf.index.sharded import shard_of
from lepton_tf.files.versions import publish_atomically
from lepton_tf.index.sharded_storage import next_version, write_top_manifest
from lepton_tf.index.build import is_file_folder
from lepton_tf.index.storage import list_index_versions
from lepton_tf.index.reuse_plan import ReusePlan
from lepton_tf.index.version_builder import IndexVersionBuilder
from lepton_tf.ingest import ChunkConfig, scan_folder
from lepton_tf.pipelines import filesystems, incremental, staged_version
from lepton_tf.pipelines.filesystems import write_shard_to
from lepton_tf.pipelines.corpus import ReadSource, list_sources
from lepton_tf.pipelines.encoder_handler import EncoderModelHandler
from lepton_tf.pipelines.runners import pipeline_options


def key_by_shard(result, num_shards: int):
    """`PredictionResult((position, doc), vector)` -> `(shard, (position, doc, vector))`."""
    position, doc = result.example
    return shard_of(doc.doc_id, num_shards), (position, doc, np.asarray(result.inference))


def text_stats(items):
    """A batch of `(position, Document)` -> the BM25 `CorpusStats` of its texts."""
    return LexicalIndex.corpus_stats([doc.embedding_text() for _, doc in items])


def choose_fusion(items, encoder_path: str, rule_to: str | None = None) -> dict:
    """Sampled `(position, doc, vector)`s -> the self-tuned `FusionConfig` as
    a dict (`index.fusion_selftune.tune_on_sample`), every shard's weight.

    Args:
        items: the sample.
        encoder_path: the encoder SavedModel (queries are embedded).
        rule_to: for a folder of files, a file to write the not-found rule
            fitted on the same pseudo-queries into (JSON; none when no rule
            is fitted), as the in-process folder build fits it; the
            pseudo-queries are cut as there (`folder_build.TUNE_SAMPLE`).
    """
    import json

    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.folder_build import TUNE_SAMPLE
    from lepton_tf.index.fusion_selftune import tune_on_sample
    from lepton_tf.index.version_builder import self_fitted_rule

    items = sorted(items, key=lambda item: item[0])
    documents, top1 = [doc for _, doc, _ in items], []
    chosen = tune_on_sample(documents, np.stack([vector for _, _, vector in items]),
                            SavedModelEncoder(encoder_path), top1=top1,
                            max_cut=TUNE_SAMPLE if rule_to else None)
    rule = self_fitted_rule(top1, any(d.questions for d in documents)) if rule_to else None
    if rule is not None:
        staged_version.write_text(rule_to, json.dumps(rule.to_dict()))
    return chosen.to_dict()


def build_shard(group, staging: str, k: int, encoder: dict, stats=None,
                fusion: dict | None = None) -> tuple[int, int]:
    """Builds and writes one shard from its `(shard, [(position, doc, vector)])` group.

    Items are put back in corpus order, so the shard is the one
    `ShardedIndex.build` makes from the same corpus; its BM25 is built with
    `stats`, the whole corpus's `CorpusStats`, so it scores as unsharded.

    Returns:
        `(shard, number of documents)`.
    """
    shard, items = group
    items = sorted(items, key=lambda item: item[0])
    documents = [doc for _, doc, _ in items]
    vectors = np.stack([vector for _, _, vector in items]).astype(np.float32)
    config = IndexBuilder(*vectors.shape).auto().config(k=k)
    index = SearchIndex.build(vectors, documents, config, encoder=EncoderInfo(**encoder),
                              lexical_stats=stats, fusion=FusionConfig.from_dict(fusion))
    write_shard_to(index, staging, shard)
    return shard, len(documents)


def expand_index(pipeline, corpus: str, staging: str, num_shards: int, k: int,
                 encoder: EncoderInfo, handler, chunk_config=None, sources=None, reuse=None,
                 record_files: bool = False, tune_with: str | None = None,
                 fusion: FusionConfig | None = None, acl=None, same_content=None):
    """Adds the indexing steps to `pipeline`; returns the `(shard, count)` PCollection.

    Args:
        tune_with: an encoder SavedModel path: self-tune the fusion weight on
            (a sample of) every passage; else every shard gets `fusion`.
        sources: the sources to read (default `list_sources(corpus)`).
        reuse: an `incremental.ReadReused` adding the previous version's
            passages of unchanged files, with their vectors (None: none).
        record_files: write each file's passage ids into the staging folder
            (`incremental.write_part`, for the ingest manifest) and, when
            self-tuning, the not-found rule fitted on its pseudo-queries
            (`FITTED_RULE`).
        acl: `index.permissions.AclRules` giving each file's passages their readers.
        same_content: an `incremental.KeepSameContent`: the passages read from
            changed files that are as stored keep their vectors (None: every
            passage read is embedded).
    """
    sources = list_sources(corpus) if sources is None else sources
    passages = (pipeline
                | "Sources" >> beam.Create(sources)
                | "SpreadSources" >> beam.Reshuffle()
                | "Read" >> beam.FlatMap(ReadSource(chunk_config, acl)))
    to_embed, kept = passages, None
    if same_content is not None:
        split = (passages
                 | "PreviousShardOf" >> beam.Map(lambda item: (shard_of(item[1].doc_id,
                                                                        num_shards), item))
                 | "GroupByPreviousShard" >> beam.GroupByKey()
                 | "KeepSameContent" >> beam.FlatMap(same_content).with_outputs(
                     incremental.EMBED, main="kept"))
        to_embed, kept = split[incremental.EMBED], split.kept
    keyed = (to_embed
             | "Spread" >> beam.Reshuffle()
             | "Embed" >> RunInference(handler)
             | "KeyByShard" >> beam.Map(key_by_shard, num_shards))
    if kept is not None:
        keyed = (keyed, kept) | "WithSameContent" >> beam.Flatten()
    every_passage = passages
    if reuse is not None:
        reused = (pipeline
                  | "PreviousShards" >> beam.Create(list(range(num_shards)))
                  | "SpreadShards" >> beam.Reshuffle()
                  | "ReadReused" >> beam.FlatMap(reuse))
        keyed = (keyed, reused) | "WithReused" >> beam.Flatten()
        every_passage = ((passages, reused | "ReusedPassages" >> beam.Map(lambda kv: kv[1][:2]))
                         | "EveryPassage" >> beam.Flatten())
    if record_files:
        _ = (passages
             | "FileOfPassage" >> beam.Map(lambda item: (item[0][0], (item[0][1], item[1].doc_id)))
             | "GroupByFile" >> beam.GroupByKey()
             | "WriteParts" >> beam.Map(incremental.write_part, staging))
    stats = (every_passage
             | "BatchTexts" >> beam.BatchElements(min_batch_size=64, max_batch_size=2048)
             | "TextStats" >> beam.Map(text_stats)
             | "CorpusStats" >> beam.CombineGlobally(merge_all))
    if tune_with:
        fused = beam.pvalue.AsSingleton(
            keyed | "Passages" >> beam.Values()
            | "SampleForFusion" >> beam.combiners.Sample.FixedSizeGlobally(MAX_SAMPLE)
            | "ChooseFusion" >> beam.Map(choose_fusion, tune_with, filesystems.join(
                staging, staged_version.FITTED_RULE) if record_files else None))
    else:
        fused = (fusion or FusionConfig()).to_dict()
    return (keyed
            | "GroupByShard" >> beam.GroupByKey()
            | "BuildShard" >> beam.Map(build_shard, staging, k, dataclasses.asdict(encoder),
                                       stats=beam.pvalue.AsSingleton(stats), fusion=fused))


def run_index_pipeline(corpus: str, encoder_path: str, out_dir: str, *, runner: str = "direct",
                       num_shards: int = 1, k: int = 10, version: int | None = None,
                       beam_args: list[str] | None = None, num_workers: int = 0,
                       handler=None, chunk_config=None, rebuild: bool = False,
                       fusion=None, acl=None, method: str = "convex",
                       self_tune: bool = True, tune_pairs: str | None = None) -> str:
    """Runs the pipeline and publishes one sharded index version.

    Args:
        corpus: a folder of files, a BEIR folder or a JSONL file: a local
            path the workers see, or a `gs://` / `s3://` URL (`filesystems`).
        encoder_path: encoder SavedModel (version folder or base: latest).
        out_dir: index base folder shared by the workers and the launcher,
            or an object-store URL (published manifest last: `filesystems`).
        runner: a `lepton_tf.pipelines.runners.RUNNERS` name.
        num_shards: shards of the version.
        k: default number of results.
        version: version number (default latest + 1).
        beam_args: Beam flags passed through (`--flink_master=...`).
        num_workers: with `direct`, worker processes.
        handler: the RunInference model handler (default
            `EncoderModelHandler(encoder_path)`).
        chunk_config: an ingest `ChunkConfig` for a folder of files.
        rebuild: read and embed every file even when the previous version
            could be updated (`incremental`: by default a local folder is
            re-embedded only where its files changed).
        fusion: a fixed `FusionConfig` for every shard (default: an
            incremental run keeps the previous version's, else self-tuned on
            up to 50,000 of the passages, `index.fusion_selftune.tune_on_sample`).
        acl: `index.permissions.AclRules` for a folder of files (stored in the
            version as `acl.yaml`; a changed ACL alone re-encodes nothing;
            None: the previous version's, if any).
        method: the fusion method when the weight is self-tuned.
        self_tune: False: the default weight instead of a self-tuned one.
        tune_pairs: a JSONL of `{query, positive}`: the weight is chosen on
            them over the built shards before the version is published
            (`staged_version.tune_staged_shards`; the launcher loads the
            shards, so it needs the version's memory).

    What is reused from a local previous version (passages of unchanged
    files, the fusion weight, the not-found rule, the ACL) is the
    `index.reuse_plan.ReusePlan`'s decision, as in process; an object-store
    `out_dir` builds in full. Either way the version gets the parts a local
    build of the same corpus gets (`index.version_parts`: a folder's ingest
    manifest, the fitted not-found rule, the ACL).

    Returns:
        The published version folder (the current one when no file changed).

    Raises:
        Exception: whatever failed in the pipeline; nothing is published and
            the staging folder is removed.
    """
    if num_shards < 1:
        raise ValueError(f"--num-shards must be >= 1, got {num_shards}.")
    encoder_path = resolve_encoder_path(encoder_path)
    encoder = read_encoder_info(encoder_path)
    handler = handler or EncoderModelHandler(encoder_path)
    options = pipeline_options(runner, beam_args, num_workers)
    start = time.time()
    record = filesystems.is_local(corpus) and is_file_folder(corpus)
    local_out = filesystems.is_local(out_dir)
    reuse = ReusePlan.decide(out_dir, encoder, chunking=(chunk_config or ChunkConfig()).to_dict(),
                             num_shards=num_shards, rebuild=rebuild) \
        if record and local_out else ReusePlan()
    builder = IndexVersionBuilder(out_dir, None, reuse, fusion=fusion, method=method,
                                  self_tune=self_tune, acl=acl, tune_pairs=tune_pairs)
    fusion = builder.pipeline_fusion()
    acl = builder.kept_acl
    plan = incremental.plan_run(corpus, reuse) if record and local_out else None
    sources, reader_of_reused, same_content = list_sources(corpus), None, None
    if plan is not None:
        changes = plan.changes
        acl_same = acl is None or reuse.acl is not None and acl.text == reuse.acl.text
        if acl_same and not (changes.added or changes.changed or changes.removed):
            current = os.path.join(out_dir, str(list_index_versions(out_dir)[-1]))
            print(f"No file changed: {current} is current.")
            return current
        todo = set(changes.added + changes.changed)
        sources = [s for s in sources if s[2] in todo]
        reader_of_reused = incremental.ReadReused(plan.previous, plan.positions(), acl)
        same_content = incremental.KeepSameContent(plan.previous, plan.changed_ids) \
            if plan.changed_ids else None
        print(f"Incremental: {len(todo)} file(s) to read and embed, {len(changes.unchanged)} "
              f"reused from {plan.previous}, {len(changes.removed)} removed.")

    def build(staging: str) -> None:
        with beam.Pipeline(options=options) as pipeline:
            expand_index(pipeline, corpus, staging, num_shards, k, encoder, handler,
                         chunk_config, sources, reader_of_reused, record,
                         tune_with=None if fusion else encoder_path, fusion=fusion, acl=acl,
                         same_content=same_content)

    def parts(staging: str) -> dict[str, str] | None:
        """The version's parts, chosen once the workers are done (`staged_version`)."""
        if tune_pairs:
            staged_version.tune_staged_shards(staging, num_shards, k, tune_pairs,
                                              SavedModelEncoder(encoder_path))
        ingest = None
        if record:
            hashes = plan.hashes if plan else dict(scan_folder(corpus))
            ingest = incremental.ingest_manifest(staging, sources, plan, chunk_config, hashes)
        rule = staged_version.take_fitted_rule(staging)
        return builder.pipeline_parts(ingest, rule).files() or None

    if local_out:
        version = next_version(out_dir, version)
        with publish_atomically(out_dir, version, kind="index") as staging:
            build(staging)
            write_top_manifest(staging, version, num_shards, k, extra_files=parts(staging))
        path = os.path.join(out_dir, str(version))
    else:  # gs://, s3://: no atomic rename; the top manifest is written last
        path = filesystems.publish_manifest_last(out_dir, version, build, num_shards, k,
                                                 parts=parts)
    print(f"Indexed {corpus} in {num_shards} shard(s) on {runner} with {encoder.name} "
          f"v{encoder.version} in {time.time() - start:.0f} s -> {path}")
    return path
