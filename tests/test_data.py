"""Tests for lepton_tf.data: vendored data, readers, errors and tf.data pipelines."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from lepton_tf.data import (  # noqa: E402
    DataFormatError,
    Dialogue,
    ResponsePair,
    Turn,
    banking77_labels,
    data_dir,
    iter_response_pairs,
    read_banking77,
    read_sgd_dialogues,
    read_sgd_schemas,
    read_stackfaq,
)
from lepton_tf.data.tf_datasets import make_dataset  # noqa: E402

REPO_DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _vendored_data(monkeypatch):
    """Make every test read the repository's vendored data/ folder."""
    monkeypatch.delenv("LEPTON_TF_DATA", raising=False)


@pytest.fixture(scope="module")
def train_dialogues():
    return read_sgd_dialogues("train")


@pytest.fixture(scope="module")
def dev_dialogues():
    return read_sgd_dialogues("dev")


# --- vendored files and paths -------------------------------------------------------


def test_data_dir_is_repo_data():
    assert data_dir() == REPO_DATA


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("LEPTON_TF_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("LEPTON_TF_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="LEPTON_TF_DATA"):
        data_dir()
    with pytest.raises(FileNotFoundError, match="LEPTON_TF_DATA"):
        read_banking77("train")


def test_vendored_checksums():
    sums = (REPO_DATA / "SHA256SUMS").read_text().splitlines()
    listed = set()
    for entry in sums:
        digest, name = entry.split(maxsplit=1)
        name = name.lstrip("*")
        listed.add(name)
        assert hashlib.sha256((REPO_DATA / name).read_bytes()).hexdigest() == digest, name
    on_disk = {p.relative_to(REPO_DATA).as_posix() for p in REPO_DATA.rglob("*") if p.is_file()}
    assert on_disk - listed == {"SHA256SUMS"}
    assert not any(name.endswith("dialogues_032.json") for name in on_disk)


# --- SGD ------------------------------------------------------------------------------


def test_sgd_counts(train_dialogues, dev_dialogues):
    assert len(train_dialogues) == 12_174
    assert len(dev_dialogues) == 2_098
    assert sum(1 for _ in iter_response_pairs(dev_dialogues)) == 19_384
    assert all(isinstance(d, Dialogue) for d in dev_dialogues[:5])


def test_sgd_turns_alternate(train_dialogues, dev_dialogues):
    for dialogue in [*train_dialogues, *dev_dialogues]:
        speakers = [t.speaker for t in dialogue.turns]
        assert speakers == ["USER", "SYSTEM"] * (len(speakers) // 2) + ["USER"] * (len(speakers) % 2)


def test_sgd_schemas():
    counts = {s: read_sgd_schemas(s) for s in ("train", "dev", "test")}
    assert [len(v) for v in counts.values()] == [26, 17, 21]
    assert [sum(len(x.intents) for x in v.values()) for v in counts.values()] == [53, 30, 38]
    alarm = counts["dev"]["Alarm_1"]
    assert alarm.intents["AddAlarm"] == "Set a new alarm"
    assert "Alarm_1" not in counts["train"]


def _write_jsonl(path: Path, rows, compress=False):
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def _turn(speaker, utterance, **extra):
    return {"speaker": speaker, "utterance": utterance, "services": ["S_1"], "acts": [], **extra}


TINY = {
    "dialogue_id": "d1",
    "services": ["S_1"],
    "turns": [
        _turn("USER", "u0", intents=["Find"]),
        _turn("SYSTEM", "s1"),
        _turn("USER", "u2", intents=["Book"]),
        _turn("SYSTEM", "s3"),
        _turn("USER", "u4", intents=["NONE"]),
    ],
}


@pytest.mark.parametrize("compress", [False, True])
def test_response_pairs_on_tiny_file(tmp_path, compress):
    path = _write_jsonl(tmp_path / ("tiny.jsonl.gz" if compress else "tiny.jsonl"), [TINY, ""], compress)
    dialogues = read_sgd_dialogues("dev", path=path)
    assert len(dialogues) == 1
    assert dialogues[0].turns[0] == Turn("USER", "u0", ("S_1",), ("Find",), ())
    assert dialogues[0].turns[1].intents == ()

    pairs = list(iter_response_pairs(dialogues))
    assert pairs == [
        ResponsePair("d1", 1, ("u0",), ("USER",), "s1", ("S_1",), ("Find",)),
        ResponsePair("d1", 3, ("u0", "s1", "u2"), ("USER", "SYSTEM", "USER"), "s3", ("S_1",), ("Book",)),
    ]
    last = list(iter_response_pairs(dialogues, max_context_turns=2))[1]
    assert (last.context, last.speakers) == (("s1", "u2"), ("SYSTEM", "USER"))
    with pytest.raises(ValueError):
        list(iter_response_pairs(dialogues, max_context_turns=0))


@pytest.mark.parametrize("spoil, fault", [
    (lambda d: d.pop("turns"), "dialogue d1: missing field 'turns'"),
    (lambda d: d.update(services="S_1"), "dialogue d1.services: must be a list, got a string"),
    (lambda d: d["services"].append(7), "dialogue d1.services[1]: must be a string, got a number"),
    (lambda d: d.update(dialogue_id=["d1"]), "dialogue.dialogue_id: must be a string, got a list"),
])
def test_both_sgd_readers_name_a_bad_field_in_the_same_words(tmp_path, spoil, fault):
    """The vendored JSONL reader and the reader of SGD's own folders check a
    field with one checker, so a user reads the same message from both."""
    from lepton_tf.data.sgd_full import read_dialogue_file

    bad = {**TINY, "services": list(TINY["services"]),
           "turns": [{**t, "frames": []} for t in TINY["turns"]]}
    spoil(bad)
    jsonl = _write_jsonl(tmp_path / "bad.jsonl", [bad])
    with pytest.raises(DataFormatError) as info:
        read_sgd_dialogues("dev", path=jsonl)
    assert str(info.value) == f"{jsonl}:1: {fault}"
    folder_file = tmp_path / "dialogues_001.json"
    folder_file.write_text(json.dumps([bad]))
    with pytest.raises(DataFormatError) as info:
        read_dialogue_file(folder_file)
    assert str(info.value) == f"{folder_file}: {fault}"


def test_sgd_malformed_line(tmp_path):
    bad = {k: v for k, v in TINY.items() if k != "turns"}
    path = _write_jsonl(tmp_path / "bad.jsonl", [TINY, bad])
    with pytest.raises(DataFormatError) as info:
        read_sgd_dialogues("dev", path=path)
    assert (info.value.path, info.value.line) == (str(path), 2)
    assert str(info.value) == f"{path}:2: dialogue d1: missing field 'turns'"

    path = _write_jsonl(tmp_path / "bad2.jsonl", [TINY, TINY, "{not json"])
    with pytest.raises(DataFormatError, match=r"bad2\.jsonl:3: invalid JSON"):
        read_sgd_dialogues("dev", path=path)


def test_sgd_missing_file(tmp_path):
    missing = tmp_path / "nope.jsonl.gz"
    with pytest.raises(FileNotFoundError, match="nope.jsonl.gz"):
        read_sgd_dialogues("train", path=missing)
    with pytest.raises(FileNotFoundError, match="nope.jsonl.gz"):
        read_sgd_schemas("train", path=missing)
    with pytest.raises(ValueError, match="split"):
        read_sgd_dialogues("validation")


# --- Banking77 -----------------------------------------------------------------------


def test_banking77_counts():
    train, test, labels = read_banking77("train"), read_banking77("test"), banking77_labels()
    assert (len(train), len(test), len(labels)) == (10_003, 3_080, 77)
    assert labels[0] == "card_arrival"
    assert {e.label for e in train} == {e.label for e in test} == set(labels)
    assert any("," in e.text for e in train)  # quoted commas survive


def test_banking77_bad_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('text,category\n"hello, there",card_arrival\nhi,card_arrival,extra\n')
    with pytest.raises(DataFormatError) as info:
        read_banking77("train", path=path)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: ")

    path.write_text("words,label\nhi,card_arrival\n")
    with pytest.raises(DataFormatError, match=r"bad\.csv:1: expected header"):
        read_banking77("train", path=path)


def test_banking77_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        read_banking77("test", path=tmp_path / "absent.csv")
    with pytest.raises(FileNotFoundError, match="absent.json"):
        banking77_labels(path=tmp_path / "absent.json")


# --- StackFAQ ------------------------------------------------------------------------


def test_stackfaq_counts():
    threads = read_stackfaq()
    assert len(threads) == 125
    assert sum(len(t.queries) for t in threads) == 1_249
    assert sum(len(t.answers) for t in threads) == 719
    first = threads[0]
    assert first.thread_id == 0 and first.question == "Strikethrough with GitHub Markdown"
    assert "*" not in first.queries
    assert any("<s>" in q for q in first.queries)  # entities decoded
    assert first.answers[0] == "Use ~~tildes around the words~~."  # whitespace stripped


XML = "<root>\n<qapair>\n<rephr>\n q1 \n</rephr>\n<rephr>*</rephr>\n<question>Q &amp; A</question>\n<answer> a </answer>\n</qapair>\n"


def test_stackfaq_plain_and_gzip(tmp_path):
    plain = tmp_path / "faq.xml"
    plain.write_text(XML + "</root>\n")
    gz = tmp_path / "faq.xml.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, gz):
        (thread,) = read_stackfaq(path)
        assert (thread.queries, thread.question, thread.answers) == (("q1",), "Q & A", ("a",))


def test_stackfaq_broken_xml(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text(XML + "<qapair>\n<rephr>x</answer>\n</root>\n")
    with pytest.raises(DataFormatError) as info:
        read_stackfaq(path)
    assert info.value.line == 11
    assert str(info.value).startswith(f"{path}:11: ")
    with pytest.raises(FileNotFoundError, match="gone.xml"):
        read_stackfaq(tmp_path / "gone.xml")


# --- tf.data pipeline ----------------------------------------------------------------


def _order(ds, batches):
    return [b["x"].tolist() if isinstance(b, dict) else b.tolist() for b in ds.take(batches).as_numpy_iterator()]


def test_make_dataset_deterministic():
    x = np.arange(100)
    build = lambda seed: make_dataset({"x": x}, batch_size=10, seed=seed, repeat=True)  # noqa: E731
    first, again, other = _order(build(1), 30), _order(build(1), 30), _order(build(2), 30)
    assert first == again
    assert first != other
    assert sorted(sum(first[:10], [])) == list(range(100))


def test_make_dataset_epochs_differ():
    ds = make_dataset(np.arange(50), batch_size=50, seed=3, repeat=True)
    epoch1, epoch2 = _order(ds, 2)
    assert sorted(epoch1) == sorted(epoch2) == list(range(50))
    assert epoch1 != epoch2


def test_make_dataset_reiteration_reproducible():
    epochs = lambda ds: [_order(ds, 1) for _ in range(3)]  # noqa: E731
    first, again = epochs(make_dataset(np.arange(20), batch_size=20, seed=5)), epochs(
        make_dataset(np.arange(20), batch_size=20, seed=5)
    )
    assert first == again
    assert first[0] != first[1]


def test_make_dataset_labels_and_strings():
    texts = [f"t{i}" for i in range(7)]
    ds = make_dataset({"text": texts, "n": list(range(7))}, labels=np.arange(7) * 10, batch_size=3, shuffle=False)
    batches = list(ds.as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [3, 3, 1]
    feats, labels = batches[0]
    assert feats["text"].tolist() == [b"t0", b"t1", b"t2"]
    assert labels.tolist() == [0, 10, 20]
    assert ds.options().deterministic is True
    dropped = make_dataset(texts, batch_size=3, drop_remainder=True)
    assert [len(b) for b in dropped.as_numpy_iterator()] == [3, 3]


def test_make_dataset_validation():
    with pytest.raises(ValueError, match=r"x=3, y=2"):
        make_dataset({"x": [1, 2, 3], "y": [1, 2]}, batch_size=1)
    with pytest.raises(ValueError, match=r"labels=2"):
        make_dataset({"x": [1, 2, 3]}, labels=[0, 1], batch_size=1)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            make_dataset([1, 2, 3], batch_size=bad)
    with pytest.raises(ValueError, match="shuffle_buffer"):
        make_dataset([1, 2, 3], batch_size=1, shuffle_buffer=0)
    assert isinstance(make_dataset([1.0, 2.0], batch_size=1), tf.data.Dataset)
