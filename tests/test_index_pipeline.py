"""The Beam index pipeline: same vectors and results as in process, all-or-nothing."""

import json
import os

import numpy as np
import pytest

beam = pytest.importorskip(
    "apache_beam", reason="apache-beam is not installed: pip install 'lepton-tf[beam]'")

from conftest import REPO  # noqa: E402

from lepton_tf.index import IndexFormatError, load_index  # noqa: E402
from lepton_tf.index.build import build_index  # noqa: E402
from lepton_tf.index.encoding import SavedModelEncoder  # noqa: E402
from lepton_tf.index.sharded import ShardedIndex  # noqa: E402
from lepton_tf.index.sharded_storage import load_sharded  # noqa: E402
from lepton_tf.index.storage import list_index_versions  # noqa: E402
from lepton_tf.pipelines.encoder_handler import EncoderModelHandler  # noqa: E402
from lepton_tf.pipelines.index_pipeline import run_index_pipeline  # noqa: E402

TOPICS = ["card", "loan", "visa", "rent", "tax", "bus", "train", "movie", "bank", "phone"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    import keras

    from lepton_tf.export.encoder_servable import export_encoder
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.models.sentence_encoder import SentenceEncoder

    keras.utils.set_random_seed(0)
    tower = SentenceEncoder.from_scratch(vocabulary_size=30522, num_layers=1, hidden_dim=16,
                                         num_heads=2, max_sequence_length=64)
    return export_encoder(DualEncoder(tower), base_dir=str(tmp_path_factory.mktemp("models")),
                          query_length=16, document_length=32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with open(path, "w") as f:
        for i in range(60):
            t = TOPICS[i % len(TOPICS)]
            f.write(json.dumps({"_id": f"doc{i}", "title": f"{t} help",
                                "text": f"how to sort out your {t} problem number {i}"}) + "\n")
    return str(path)


def _no_staging_left(base):
    return not os.path.isdir(base) or not [e for e in os.listdir(base) if e.startswith(".")]


def test_direct_runner_with_two_workers_equals_the_in_process_build(
        encoder, corpus, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = str(tmp_path / "sharded")
    path = run_index_pipeline(corpus, encoder, out, runner="direct", num_shards=3,
                              num_workers=2, k=5)
    sharded = load_sharded(path)
    assert len(sharded) == 60 and [len(s) > 0 for s in sharded.shards] == [True] * 3
    assert list_index_versions(out) == [1] and _no_staging_left(out)

    flat = load_index(build_index(corpus, encoder, str(tmp_path / "flat"), k=5))
    # Every shard carries the weight the in-process build self-tunes on the same passages.
    assert flat.fusion.tuned_on.startswith("self-tuned")
    assert [s.fusion for s in sharded.shards] == [flat.fusion] * 3
    model = SavedModelEncoder(encoder)
    assert sharded.encoder.fingerprint == model.info.fingerprint
    rows = {doc_id: i for i, doc_id in enumerate(flat.row_ids)}
    for shard in sharded.shards:  # every vector as the in-process build made it
        np.testing.assert_allclose(shard.embeddings,
                                   flat.embeddings[[rows[d] for d in shard.row_ids]],
                                   atol=1e-5)
    queries = model.encode_queries([f"{t} issue" for t in TOPICS])
    ids, scores = sharded.search_batched(queries, 5)
    want_ids, want_scores = flat.search_batched(queries, 5)
    assert ids == want_ids
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    # BM25 per shard from the corpus's statistics: bm25 and hybrid as unsharded.
    texts = [f"{t} issue" for t in TOPICS]
    for mode in ("bm25", "hybrid"):
        for g, w in zip(sharded.hybrid_search(queries, texts, 5, mode),
                        flat.hybrid_search(queries, texts, 5, mode)):
            assert g.doc_ids == w.doc_ids
            np.testing.assert_allclose(g.bm25_scores, w.bm25_scores, rtol=1e-6)
            np.testing.assert_allclose(g.scores, w.scores, atol=1e-5)
    # ... and equals the in-process sharded build, shard by shard.
    local = ShardedIndex.build(flat.embeddings, [flat.documents[d] for d in flat.row_ids], 3)
    assert [s.row_ids for s in local.shards] == [s.row_ids for s in sharded.shards]


class FailingHandler(EncoderModelHandler):
    """The real encoder, failing on the batch that holds `doc30`."""

    def run_inference(self, batch, model, inference_args=None):
        if any(doc.doc_id == "doc30" for _, doc in batch):
            raise RuntimeError("worker lost half-way")
        return super().run_inference(batch, model, inference_args)


def test_a_pipeline_failing_half_way_publishes_nothing(encoder, corpus, tmp_path):
    out = str(tmp_path / "idx")
    handler = FailingHandler(encoder, min_batch_size=4, max_batch_size=4)
    with pytest.raises(Exception, match="worker lost half-way"):
        run_index_pipeline(corpus, encoder, out, runner="direct", num_shards=2,
                           handler=handler)
    assert list_index_versions(out) == [] and _no_staging_left(out)
    # More shards than documents: every worker succeeds, one shard stays empty.
    with pytest.raises(IndexFormatError, match="was not written"):
        run_index_pipeline(corpus, encoder, out, runner="direct", num_shards=500)
    assert list_index_versions(out) == [] and _no_staging_left(out)


def test_cli_passes_beam_options_through(encoder, corpus, tmp_path):
    from lepton_tf.cli import main

    out = str(tmp_path / "cli")
    assert main(["index", "--runner", "direct", "--num-shards", "2", "--corpus", corpus,
                 "--encoder", encoder, "--out", out, "--direct_num_workers=1"]) == 0
    assert len(load_sharded(out)) == 60
    # --add/--delete write a new sharded version, each id in the shard that owns it.
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"_id": "new1", "title": "visa", "text": "visa renewal"}) + "\n")
    assert main(["index", "--encoder", encoder, "--out", out, "--delete", "doc3",
                 "--add", str(extra)]) == 0
    updated = load_sharded(out)
    assert list_index_versions(out) == [1, 2] and len(updated) == 60
    assert "doc3" not in updated.documents and updated.documents["new1"].text == "visa renewal"
    assert main(["index", "--corpus", corpus, "--encoder", encoder, "--out", out,
                 "--num-shards", "2"]) == 2  # sharding needs a Beam runner
    with pytest.raises(SystemExit):
        main(["eval", "--no-such-flag"])


def test_a_folder_of_files_is_read_through_ingest_one_source_a_file(encoder, tmp_path):
    from lepton_tf.ingest import iter_passages
    from lepton_tf.pipelines.corpus import list_sources

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Cards\n\nA lost card is blocked at once.\n\n"
                                 "# Loans\n\nLoans are paid monthly.\n")
    (folder / "sub" / "b.txt").write_text("Rent is due on the first day of the month.\n")
    assert [rel for _, _, rel in list_sources(str(folder))] == ["a.md", "sub/b.txt"]
    path = run_index_pipeline(str(folder), encoder, str(tmp_path / "idx"), runner="direct",
                              num_shards=2)
    index = load_sharded(path)
    want = {p.doc_id: p for rel in ("a.md", "sub/b.txt")
            for p in iter_passages(str(folder / rel), relpath=rel)}
    assert sorted(index.documents) == sorted(want) and len(want) >= 3
    doc = index.documents["sub/b.txt#0"]
    assert doc.text == want["sub/b.txt#0"].text and doc.metadata["source"] == "sub/b.txt"


@pytest.fixture
def fake_s3(monkeypatch):
    """`s3://` through Beam's own S3 filesystem over Beam's in-memory S3
    client (`apache_beam.io.aws.clients.s3.fake_client`, what Beam's S3 tests
    use): objects only, no folders, no rename; no network."""
    pytest.importorskip("pytz")
    from apache_beam.io.aws import s3filesystem, s3io
    from apache_beam.io.aws.clients.s3.fake_client import FakeS3Client

    client, real = FakeS3Client(), s3io.S3IO
    monkeypatch.setattr(s3filesystem.s3io, "S3IO", lambda options=None, **_: real(client=client))
    return client


def _put(client, key, data: bytes):
    from apache_beam.io.aws.clients.s3.fake_client import FakeFile

    client.add_file(FakeFile("bucket", key, data))


def test_corpus_and_shards_on_an_object_store_published_manifest_last(
        encoder, corpus, tmp_path, fake_s3):
    from lepton_tf.pipelines import filesystems

    with open(corpus, "rb") as f:
        _put(fake_s3, "corpus/corpus.jsonl", f.read())
    _put(fake_s3, "notes/a.md", b"# Cards\n\nA lost card is blocked at once.\n")
    _put(fake_s3, "notes/sub/b.txt", b"Rent is due on the first day of the month.\n")
    _put(fake_s3, "notes/.hidden/c.txt", b"never read")
    path = run_index_pipeline("s3://bucket/corpus", encoder, "s3://bucket/index",
                              runner="direct", num_shards=2, k=5)
    assert path == "s3://bucket/index/1"
    keys = sorted(k for (_, k) in fake_s3.files)
    assert "index/1/manifest.json" in keys and "index/1/shard-00001/manifest.json" in keys
    assert not [k for k in keys if k.startswith("index/") and "/." in k]  # no staging left
    # What a server reads from a mounted bucket: copy the objects out, load, verify.
    local = tmp_path / "mounted"
    for key in keys:
        if key.startswith("index/"):
            target = local / key[len("index/"):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(filesystems.read_bytes(f"s3://bucket/{key}"))
    index = load_sharded(str(local))
    flat = load_index(build_index(corpus, encoder, str(tmp_path / "flat"), k=5))
    assert sorted(index.documents) == sorted(flat.documents)
    queries = SavedModelEncoder(encoder).encode_queries([f"{t} issue" for t in TOPICS])
    assert index.search_batched(queries, 5)[0] == flat.search_batched(queries, 5)[0]
    # A folder of files on the store; the next version number comes from the store.
    path = run_index_pipeline("s3://bucket/notes", encoder, "s3://bucket/index",
                              runner="direct", num_shards=1)
    assert path == "s3://bucket/index/2" and filesystems.remote_versions(
        "s3://bucket/index") == [1, 2]
    # A run failing half-way leaves no manifest, so no version, and its objects go.
    handler = FailingHandler(encoder, min_batch_size=4, max_batch_size=4)
    with pytest.raises(Exception, match="worker lost half-way"):
        run_index_pipeline("s3://bucket/corpus", encoder, "s3://bucket/index",
                           runner="direct", num_shards=2, handler=handler)
    assert filesystems.remote_versions("s3://bucket/index") == [1, 2]
    assert not [k for (_, k) in fake_s3.files if k.startswith("index/3/")]


class RecordingHandler(EncoderModelHandler):
    """The real encoder, appending every embedded doc id to a file."""

    def __init__(self, path, log):
        super().__init__(path)
        self.log = str(log)

    def run_inference(self, batch, model, inference_args=None):
        with open(self.log, "a") as f:
            f.writelines(doc.doc_id + "\n" for _, doc in batch)
        return super().run_inference(batch, model, inference_args)


def test_a_second_run_over_a_changed_folder_embeds_only_the_changed_files(encoder, tmp_path):
    from lepton_tf.index.storage import read_manifest
    from lepton_tf.ingest.manifest import IngestManifest

    folder, out, log = tmp_path / "notes", str(tmp_path / "idx"), tmp_path / "embedded.txt"
    (folder / "sub").mkdir(parents=True)
    for i, topic in enumerate(TOPICS):
        (folder / f"{topic}.md").write_text(f"# {topic}\n\nHow to sort out a {topic} problem, "
                                            f"case {i}.\n")
    (folder / "sub" / "b.txt").write_text("Rent is due on the first day of the month.\n")

    def run(**kw):
        log.write_text("")
        path = run_index_pipeline(str(folder), encoder, out, runner="direct", num_shards=2,
                                  handler=RecordingHandler(encoder, log), **kw)
        return path, sorted(log.read_text().split())

    first, embedded = run()
    assert len(embedded) == len(TOPICS) + 1
    manifest = IngestManifest.from_json((tmp_path / "idx" / "1" / "ingest.json").read_text())
    assert manifest.files["sub/b.txt"]["passages"] == ["sub/b.txt#0"]
    assert "ingest.json" in read_manifest(first)["sha256"]  # checksummed with the shards
    # Unchanged: no new version, nothing embedded.
    assert run() == (first, [])
    # One file changed, one added, one removed: only those two are read and embedded.
    (folder / "sub" / "b.txt").write_text("Rent is due on the fifth day of the month.\n")
    (folder / "visa2.md").write_text("# visa\n\nA new visa rule.\n")
    (folder / "tax.md").unlink()
    second, embedded = run()
    assert embedded == ["sub/b.txt#0", "visa2.md#0"] and second.endswith("/2")
    updated = load_sharded(second)
    assert "tax.md#0" not in updated.documents
    assert updated.documents["sub/b.txt#0"].text.startswith("Rent is due on the fifth")
    # ... and equals a full rebuild: same passages in the same rows of the same shards,
    # same vectors, same BM25 (the corpus's statistics over old and new passages).
    full = load_sharded(run_index_pipeline(str(folder), encoder, str(tmp_path / "full"),
                                           runner="direct", num_shards=2))
    for a, b in zip(updated.shards, full.shards):
        assert a.row_ids == b.row_ids
        np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-5)
        for query in ("visa rule", "rent month", "loan problem"):
            np.testing.assert_array_equal(a.lexical.scores(query), b.lexical.scores(query))
    # --rebuild embeds everything again.
    _, embedded = run(rebuild=True)
    assert len(embedded) == len(TOPICS) + 1


def test_a_faq_jsonl_in_a_folder_keeps_its_known_questions(encoder, tmp_path):
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "faq.jsonl").write_text(json.dumps(
        {"_id": "lost-card", "title": "Lost card", "text": "Call us to block the card.",
         "questions": ["I lost my card", "my card was stolen"]}) + "\n")
    (folder / "rent.md").write_text("# Rent\n\nRent is due on the first day of the month.\n")
    index = load_sharded(run_index_pipeline(str(folder), encoder, str(tmp_path / "idx"),
                                            runner="direct", num_shards=1))
    (faq,) = [d for d in index.documents.values() if d.metadata.get("source") == "faq.jsonl"]
    assert faq.questions == ("I lost my card", "my card was stolen")


def test_a_folder_built_on_beam_gets_the_in_process_weight_and_not_found_rule(encoder, tmp_path):
    from lepton_tf.index.folder_build import build_folder_index
    from lepton_tf.index.not_found_rule import load_rule

    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(60):  # enough pseudo-queries (headings) for a fitted rule
        t = TOPICS[i % len(TOPICS)]
        (folder / f"{i:02d}.md").write_text(f"# {t} desk {i}\n\nHow to sort out a {t} "
                                            f"problem, case {i}, at desk {i % 7}.\n")
    beam_path = run_index_pipeline(str(folder), encoder, str(tmp_path / "beam"),
                                   runner="direct", num_shards=1)
    local = build_folder_index(str(folder), str(tmp_path / "local"), SavedModelEncoder(encoder),
                               progress=False).path
    beam_rule, local_rule = load_rule(beam_path), load_rule(local)
    assert local_rule.fitted_on["fitted"].startswith("self-fitted")
    assert beam_rule == local_rule and beam_rule.fitted_on == local_rule.fitted_on
    assert load_sharded(beam_path).shards[0].fusion == load_index(local).fusion
    assert not [name for name in os.listdir(beam_path) if name.startswith(".")]


def test_an_edited_file_on_beam_embeds_only_its_changed_passages(encoder, tmp_path):
    folder, out, log = tmp_path / "notes", str(tmp_path / "idx"), tmp_path / "embedded.txt"
    folder.mkdir()
    sections = ["# Hours\n\nThe office opens at nine.", "# Parking\n\nPark in the north garage.",
                "# Lunch\n\nThe canteen serves lunch at noon."]
    (folder / "guide.md").write_text("\n\n".join(sections) + "\n")
    (folder / "faq.md").write_text("# Wifi\n\nThe password is on the fridge.\n")

    def run(root, base):
        log.write_text("")
        path = run_index_pipeline(str(root), encoder, base, runner="direct", num_shards=2,
                                  handler=RecordingHandler(encoder, log))
        return path, sorted(log.read_text().split())

    _, embedded = run(folder, out)
    assert embedded == ["faq.md#0", "guide.md#0", "guide.md#1", "guide.md#2"]
    (folder / "guide.md").write_text("\n\n".join(sections[:2] + [
        "# Lunch\n\nThe canteen serves lunch at one."]) + "\n")
    second, embedded = run(folder, out)
    assert embedded == ["guide.md#2"]  # the untouched sections keep their vectors
    updated = load_sharded(second)
    assert "at one" in updated.documents["guide.md#2"].text
    full = load_sharded(run(folder, str(tmp_path / "full"))[0])
    for a, b in zip(updated.shards, full.shards):  # as a full rebuild
        assert a.row_ids == b.row_ids
        np.testing.assert_allclose(a.embeddings, b.embeddings, atol=1e-5)


def _pairs(path, n=20):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"query": f"sort out {TOPICS[i % len(TOPICS)]} number {i}",
                                "positive": f"doc{i}"}) + "\n")
    return str(path)


def test_tune_on_beam_chooses_the_weight_on_the_shards_before_the_one_version(
        encoder, corpus, tmp_path):
    from lepton_tf.index.update import update_index

    pairs, out = _pairs(tmp_path / "pairs.jsonl"), str(tmp_path / "beam")
    path = run_index_pipeline(corpus, encoder, out, runner="direct", num_shards=3,
                              tune_pairs=pairs)
    assert list_index_versions(out) == [1]  # tuned before the one publish
    sharded = load_sharded(path)  # every checksum verified, shard manifests included
    assert {s.fusion for s in sharded.shards} == {sharded.fusion}
    assert sharded.fusion.tuned_on == "pairs.jsonl (20 queries)"
    # The weight one unsharded index of the same corpus chooses on the same pairs.
    flat = load_index(build_index(corpus, encoder, str(tmp_path / "flat"), tune_pairs=pairs))
    assert (sharded.fusion.dense_weight, sharded.fusion.tuned_on) == (
        flat.fusion.dense_weight, flat.fusion.tuned_on)
    # An in-process re-tune of the sharded version: on the pairs, then self-tuned.
    again = load_sharded(update_index(out, encoder, tune_pairs=pairs, retune=True, log=print))
    assert again.fusion == sharded.fusion and {s.fusion for s in again.shards} == {again.fusion}
    selftuned = load_sharded(update_index(out, encoder, retune=True))
    assert selftuned.fusion.tuned_on.startswith("self-tuned")
    assert {s.fusion for s in selftuned.shards} == {selftuned.fusion}
    assert list_index_versions(out) == [1, 2, 3]


def test_a_version_on_an_object_store_gets_the_parts_of_a_local_one(encoder, tmp_path, fake_s3):
    from lepton_tf.index.permissions import AclRules
    from lepton_tf.index.version_parts import VersionParts
    from lepton_tf.pipelines import filesystems

    folder = tmp_path / "notes"
    (folder / "board").mkdir(parents=True)
    for i in range(60):  # enough pseudo-queries (headings) for a fitted rule
        t = TOPICS[i % len(TOPICS)]
        (folder / ("board" if i % 5 == 0 else "") / f"{i:02d}.md").write_text(
            f"# {t} desk {i}\n\nHow to sort out a {t} problem, case {i}, at desk {i % 7}.\n")
    acl = AclRules.parse('"*.md": ["*"]\n"board/**": ["board"]\n', "acl.yaml")
    local = run_index_pipeline(str(folder), encoder, str(tmp_path / "local"), runner="direct",
                               num_shards=2, acl=acl)
    remote = run_index_pipeline(str(folder), encoder, "s3://bucket/index", runner="direct",
                                num_shards=2, acl=acl)
    keys = sorted(k for (_, k) in fake_s3.files if k.startswith("index/1/"))
    assert not [k for k in keys if "/." in k]  # no staging pieces published
    mounted = tmp_path / "mounted"
    for key in keys:
        target = mounted / key[len("index/"):]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(filesystems.read_bytes(f"s3://bucket/{key}"))
    assert remote == "s3://bucket/index/1"
    want, got = VersionParts.read(local), VersionParts.read(str(mounted / "1"))  # checksummed
    assert got.not_found_rule is not None and got.not_found_rule == want.not_found_rule
    assert got.acl.text == want.acl.text and got.fusion == want.fusion
    assert got.ingest.files == want.ingest.files and len(got.ingest.files) == 60
    index = load_sharded(str(mounted))
    assert index.documents["board/00.md#0"].readers == ("board",)
    assert index.documents["01.md#0"].readers == ("*",)
