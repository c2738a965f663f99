"""The not-found rule: fitted by leaving whole threads out of the index, written into
the index version, used by the search servable; a user's index falls back to the
default rule."""

import itertools
import json
import os
import zlib

import numpy as np
import pytest

from lepton_tf.data.beir import write_beir
from lepton_tf.index import Document, SearchIndex, load_index, not_found_rule
from lepton_tf.index.build import build_index
from lepton_tf.index.not_found_thread_fit import (
    calibrate,
    fold_features,
    rotations,
    thread_folds,
    thread_of,
)
from lepton_tf.index.search_index import EncoderInfo
from lepton_tf.index.storage import read_manifest, save_index
from lepton_tf.search.servable import SearchServable

THREADS, DIM = 30, 40


class _TopicEncoder:
    """`topic<i>` words are dimension i; other words hash into 10 shared dimensions (1/5);
    plus each text's seeded noise. A question finds its thread's answer at cosine
    ~0.9 and another thread's at ~0.2."""

    info = EncoderInfo(name="topic", version=1)

    def _embed(self, texts):
        out = np.full((len(texts), DIM), 1e-3, np.float32)
        for row, text in enumerate(texts):
            text = text.decode() if isinstance(text, bytes) else text
            for word in text.split():
                if word.startswith("topic"):
                    out[row, int(word[5:])] += 1.0
                else:
                    out[row, THREADS + zlib.crc32(word.encode()) % (DIM - THREADS)] += 0.2
            out[row] += np.random.default_rng(zlib.crc32(text.encode())).normal(
                size=DIM).astype(np.float32) / 64
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_documents = _embed


def _thread_collection(tmp_path):
    corpus = {f"t{i}-a0": {"title": f"topic{i} question", "text": f"topic{i} answer word{i}"}
              for i in range(THREADS)}
    queries = {f"t{i}-q{j}": f"how topic{i} query{j}" for i in range(THREADS) for j in range(2)}
    folder = tmp_path / "threads"
    write_beir(folder, corpus, queries, {"test": {q: {q.split("-")[0] + "-a0": 1}
                                                  for q in queries}})
    return str(folder)


def test_left_out_threads_make_unanswerable_questions_and_a_held_out_rule():
    encoder = _TopicEncoder()
    doc_ids = [f"t{i}-a0" for i in range(THREADS)]
    texts = [f"topic{i} answer" for i in range(THREADS)]
    query_ids = [f"t{i}-q0" for i in range(THREADS)]
    queries = [f"how topic{i}" for i in range(THREADS)]
    folds = thread_folds(doc_ids, 5, seed=0)
    assert sorted(set().union(*folds)) == sorted(thread_of(d) for d in doc_ids)
    parts = fold_features(doc_ids, texts, encoder.encode_documents(texts), query_ids, queries,
                          encoder.encode_queries(queries), folds)
    assert [int(p["unanswerable"].sum()) for p in parts] == [len(f) for f in folds]
    first = parts[0]
    assert first["features"]["top1"][~first["unanswerable"]].min() > 0.8
    assert first["features"]["top1"][first["unanswerable"]].max() < 0.5
    result = calibrate(parts, folds, fit_folds=3)
    assert result["held_out"]["unanswerable_flagged"] == 1.0
    assert result["held_out"]["answerable_flagged"] == 0.0
    # Only held-out threads' answerable questions: the other held-out fold's.
    assert result["held_out_threads"]["answerable"] == 2 * 6
    rule = result["rule"]
    assert not_found_rule.NotFoundRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule


def _parts(rng, n, overlap_cover):
    """Answerable and unanswerable questions with the same top-1 cosines: only `cover`
    (the share of query words the index knows) tells them apart."""
    top1 = rng.uniform(0.4, 0.8, 2 * n)
    unanswerable = np.arange(2 * n) >= n
    cover = np.where(unanswerable, rng.uniform(0.0, 0.5, 2 * n),
                     rng.uniform(overlap_cover, 1.0, 2 * n))
    feats = {"top1": top1, "margin": rng.uniform(0, 0.1, 2 * n),
             "spread": rng.uniform(0, 0.2, 2 * n), "bm25": rng.uniform(0, 3, 2 * n),
             "cover": cover, "length": rng.uniform(1, 2, 2 * n)}
    return {"features": feats, "unanswerable": unanswerable,
            "threads": np.array([f"t{i}" for i in range(2 * n)])}


def test_several_signals_separate_what_one_score_cannot():
    rng = np.random.default_rng(0)
    parts = [_parts(rng, 100, 0.6) for _ in range(5)]
    folds = [set(p["threads"]) for p in parts]
    single = calibrate(parts, folds, 3, features=("top1",))["held_out"]
    assert single["unanswerable_flagged"] >= 0.85 and single["answerable_flagged"] > 0.5
    several = calibrate(parts, folds, 3)["held_out"]
    assert several["unanswerable_flagged"] >= 0.85 and several["answerable_flagged"] < 0.05


def _query(servable, text):
    return servable.run("search", {"query": np.array([text.encode()], object),
                                   "k": np.array(2, np.int32)})["not_found"].tolist()[0]


def test_index_build_writes_the_fitted_rule_and_the_search_servable_uses_it(tmp_path):
    encoder = _TopicEncoder()
    path = build_index(_thread_collection(tmp_path), "", str(tmp_path / "index"),
                       encoder=encoder)
    assert not_found_rule.FILE_NAME in read_manifest(path)["sha256"]  # checksummed like the rest
    with open(os.path.join(path, not_found_rule.FILE_NAME)) as f:
        written = not_found_rule.NotFoundRule.from_dict(json.load(f))
    # No known questions in this corpus: every signal but theirs.
    assert written.features == tuple(f for f in not_found_rule.FEATURES
                                     if f not in not_found_rule.QUESTION_FEATURES)
    assert written.fitted_on["held_out"]["unanswerable_flagged"] >= 0.9
    servable = SearchServable(str(tmp_path / "index"), encoder.encode_queries)
    assert servable.not_found_rule == written
    assert _query(servable, "how topic3 query0") is False
    assert _query(servable, "what zebra giraffe") is True
    # A rule that flags everything is obeyed, whatever the top cosine.
    index = load_index(path)
    everything = not_found_rule.NotFoundRule(("top1",), (0.0,), (0.0,), (1.0,), 1.0, 0.0)
    save_index(index, str(tmp_path / "strict"), extra_files=not_found_rule.rule_file(everything))
    strict = SearchServable(str(tmp_path / "strict"), encoder.encode_queries)
    assert _query(strict, "how topic3 query0") is True


def test_a_users_index_without_calibration_uses_the_default_rule(tmp_path):
    encoder = _TopicEncoder()
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"note{i}", "text": f"topic{i} notes"}) + "\n"
                              for i in range(THREADS)))
    path = build_index(str(corpus), "", str(tmp_path / "index"), encoder=encoder)
    assert not os.path.exists(os.path.join(path, not_found_rule.FILE_NAME))
    servable = SearchServable(path, encoder.encode_queries)
    assert servable.not_found_rule == not_found_rule.DEFAULT_RULE
    assert _query(servable, "topic5 notes") is False       # cosine ~1 >= 0.626
    assert _query(servable, "zebra giraffe lion") is True  # cosine ~0.2
    threshold = not_found_rule.DEFAULT_NOT_FOUND_THRESHOLD
    assert not_found_rule.DEFAULT_RULE.flags({"top1": threshold - 1e-3})
    assert not not_found_rule.DEFAULT_RULE.flags({"top1": threshold})


def test_an_unreadable_rule_file_is_refused(tmp_path):
    index = SearchIndex.build(_TopicEncoder().encode_documents(["topic1 a", "topic2 b"]),
                              [Document("a", "topic1 a"), Document("b", "topic2 b")])
    path = save_index(index, str(tmp_path), extra_files={not_found_rule.FILE_NAME: '{"features": '
                                                          '["nope"], "weights": [1]}'})
    with pytest.raises(ValueError, match="not-found rule"):
        not_found_rule.load_rule(path)


def test_rotations_fit_each_choice_on_its_own_folds_only():
    rng = np.random.default_rng(1)
    parts = [_parts(rng, 60, 0.3) for _ in range(5)]  # overlapping: rules differ
    folds = [set(p["threads"]) for p in parts]
    # Naming the fit folds is the same as putting them first.
    order = [2, 3, 4, 0, 1]
    named = calibrate(parts, folds, [4, 2, 3])
    first = calibrate([parts[i] for i in order], [folds[i] for i in order], 3)
    assert named["rule"] == first["rule"] and named["held_out"] == first["held_out"]
    rotated = rotations(parts, folds, 3)
    assert sorted(tuple(r["fit_folds"]) for r in rotated["runs"]) == \
        list(itertools.combinations(range(5), 3))  # every choice, once
    held = [r["held_out"]["answerable_flagged"] for r in rotated["runs"]]
    assert rotated["held_out_mean"]["answerable_flagged"] == pytest.approx(np.mean(held))
    assert rotated["held_out_std"]["answerable_flagged"] == pytest.approx(np.std(held))
    assert len(set(held)) > 1  # different fit folds, different rules
