"""Ingestion: files -> passages, and the incremental folder index."""

import itertools
import json
import os

import numpy as np
import pytest
from corpus_files import HTML, MARKDOWN, CountingEncoder, make_corpus, write_pdf

from lepton_tf.index import load_index
from lepton_tf.index.folder_build import build_folder_index
from lepton_tf.index.storage import list_index_versions
from lepton_tf.ingest import (
    ChunkConfig,
    Chunker,
    ParseError,
    Section,
    iter_passages,
    parse_file,
    scan_folder,
)
from lepton_tf.ingest.chunker import windows
from lepton_tf.text.wordpiece_offsets import WordPieceOffsets

SMALL = ChunkConfig(max_tokens=16, overlap=4)


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceOffsets()


def test_wordpiece_offsets_give_the_graph_tokenizers_ids(tokenizer):
    from lepton_tf.text import MiniLMTokenizer

    texts = ["How do I reset my card PIN?", "Café résumé naïve", "unaffordable 日本語 x-ray",
             "  tabs\tand\nnewlines  ", "C++ & Rust's 3.14 e-mails"]
    graph = MiniLMTokenizer().tokenize(texts).to_list()
    ours = tokenizer.tokenize(texts)
    assert [list(p.ids) for p in ours] == graph
    for text, pieces in zip(texts, ours):
        for (lo, hi), start in zip(pieces.offsets, pieces.word_start):
            assert text[lo:hi].strip() and hi > lo
        assert pieces.word_start[0]


def test_scan_folder_hashes_supported_files_and_skips_hidden(tmp_path):
    root = make_corpus(tmp_path / "c")
    found = dict(scan_folder(str(root)))
    assert sorted(found) == ["billing.html", "broken.pdf", "faq.jsonl", "guides/install.md",
                             "manual.pdf", "notes.txt", "table.csv"]
    import hashlib
    assert found["notes.txt"] == hashlib.sha256((root / "notes.txt").read_bytes()).hexdigest()
    with pytest.raises(NotADirectoryError):
        scan_folder(str(root / "notes.txt"))


def test_markdown_sections_follow_headings_and_slice_the_file(tmp_path):
    path = tmp_path / "a.md"
    path.write_text(MARKDOWN)
    sections = parse_file(str(path))
    assert [s.headings for s in sections] == [(), ("Installation",), ("Installation", "On Linux"),
                                             ("Usage",)]
    assert "shell comment" in sections[2].text  # a '#' inside a code fence is no heading
    for s in sections:
        assert MARKDOWN[s.start:s.start + len(s.text)] == s.text


def test_html_drops_scripts_and_nav_and_titles_by_heading_path(tmp_path):
    path = tmp_path / "p.html"
    path.write_text(HTML)
    sections = parse_file(str(path))
    assert [s.headings for s in sections] == [("Refunds",), ("Refunds", "Partial refunds"),
                                             ("Invoices",)]
    text = " ".join(s.text for s in sections)
    assert "tracking" not in text and "Home" not in text and "color" not in text
    assert sections[0].text == "Refunds for annual plans are paid within ten days."
    assert sections[1].text == "Unused months are refunded.\nFees are kept."
    assert all(s.title == "Billing help" for s in sections)


def test_pdf_pages_outline_and_corrupt_files(tmp_path):
    write_pdf(tmp_path / "m.pdf", [("Animals", "Zebras have stripes."), ("Geology", "Lava.")])
    sections = parse_file(str(tmp_path / "m.pdf"))
    assert [(s.page, s.headings, s.title) for s in sections] == [
        (1, ("Animals",), "The Manual"), (2, ("Geology",), "The Manual")]
    assert "Zebras have stripes." in sections[0].text
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\ngarbage")
    with pytest.raises(ParseError, match="bad.pdf: not a readable PDF"):
        parse_file(str(tmp_path / "bad.pdf"))
    (tmp_path / "truncated.pdf").write_bytes((tmp_path / "m.pdf").read_bytes()[:300])
    with pytest.raises(ParseError, match="truncated.pdf"):
        parse_file(str(tmp_path / "truncated.pdf"))


def test_records_keep_ids_titles_and_metadata(tmp_path):
    root = make_corpus(tmp_path / "c")
    faq = parse_file(str(root / "faq.jsonl"), "faq.jsonl")
    assert [(s.document, s.title) for s in faq] == [("faq.jsonl:f1", "Reset a PIN"),
                                                    ("faq.jsonl:f2", "Close account")]
    assert faq[0].metadata == {"category": "cards", "views": 12, "record": "f1"}
    rows = parse_file(str(root / "table.csv"), "table.csv")
    assert [(s.title, s.text, s.metadata["category"]) for s in rows] == [
        ("What is a koala?", "A marsupial, it eats eucalyptus.", "animals"),
        ("Lava temperature?", "Around 1000 degrees.", "geology")]
    (tmp_path / "bad.jsonl").write_text('{"_id": 1, "text": "ok"}\n{broken\n')
    with pytest.raises(ParseError, match="line 2: not JSON"):
        parse_file(str(tmp_path / "bad.jsonl"))
    (tmp_path / "latin.txt").write_bytes("Caf\xe9 cr\xe8me and na\xefve notes".encode("cp1252"))
    assert parse_file(str(tmp_path / "latin.txt"))[0].text == "Café crème and naïve notes"


def test_windows_bound_tokens_overlap_and_end_between_words(tokenizer):
    text = ("The quick brown fox jumps over the unaffordable lazy dog. " * 12 +
            "\n\nA second paragraph follows here with more words. " * 5)
    pieces = tokenizer.tokenize([text])[0]
    ranges = windows(pieces, text, max_tokens=30, overlap=6)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(pieces)
    for (a, b), (c, _) in itertools.pairwise(ranges):
        assert 0 < c < b and b - c <= 6  # overlap, never more than asked
        assert c > a
    for a, b in ranges:
        assert b - a <= 30
        assert pieces.word_start[a] and (b == len(pieces) or pieces.word_start[b])
    ends = [text[pieces.offsets[b - 1][0]:pieces.offsets[b - 1][1]] for _, b in ranges[:-1]]
    assert sum(e == "." for e in ends) >= len(ends) // 2  # prefers sentence ends


def test_iter_passages_ids_titles_and_offsets(tmp_path):
    root = make_corpus(tmp_path / "c")
    passages = list(iter_passages(str(root / "guides" / "install.md"), SMALL,
                                  relpath="guides/install.md"))
    assert [p.doc_id for p in passages] == [f"guides/install.md#{i}" for i in range(len(passages))]
    assert passages[0].title == "install"  # no heading above: the file name
    assert {p.title for p in passages} >= {"Installation", "Installation > On Linux", "Usage"}
    assert len(passages) > 4  # 16-token passages: sections were split
    for p in passages:
        assert MARKDOWN[p.metadata["start"]:p.metadata["end"]] == p.text
        assert p.metadata["source"] == p.metadata["document"] == "guides/install.md"
        assert p.metadata["section"] == (p.title if p.title != "install" else "")
        assert all(isinstance(v, (str, int, float)) for v in p.metadata.values())
    pdf = list(iter_passages(str(root / "manual.pdf"), relpath="manual.pdf"))
    assert [(p.metadata["page"], p.title) for p in pdf] == [(1, "Animals"), (2, "Geology")]
    one = Chunker(SMALL).chunk([Section("x " * 3), Section("   ")], "f.txt")
    assert [p.text for p in one] == ["x x x"]


def _versions(path):
    return list_index_versions(str(path))


def test_folder_index_re_encodes_only_changed_files(tmp_path):
    root = make_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    encoder = CountingEncoder()  # self_tune=False: only the passages are encoded
    first = build_folder_index(str(root), str(out), encoder, config=SMALL, progress=False,
                               self_tune=False)
    assert first.written and not first.incremental and _versions(out) == [1]
    assert set(first.skipped) == {"broken.pdf"}
    assert "not a readable PDF" in first.skipped["broken.pdf"]
    assert len(encoder.encoded) == first.passages == first.encoded
    v1 = load_index(first.path)
    assert {d.metadata["source"] for d in v1.documents.values()} == {
        "billing.html", "faq.jsonl", "guides/install.md", "manual.pdf", "notes.txt", "table.csv"}
    manifest = json.loads((out / "1" / "ingest.json").read_text())
    assert manifest["files"]["notes.txt"]["passages"] == ["notes.txt#0"]
    assert "ingest.json" in json.loads((out / "1" / "manifest.json").read_text())["sha256"]

    encoder.encoded.clear()  # unchanged folder: no new version, nothing encoded
    same = build_folder_index(str(root), str(out), encoder, config=SMALL, progress=False)
    assert not same.written and encoder.encoded == [] and _versions(out) == [1]

    (root / "notes.txt").write_text("Meeting notes: the walrus survey moved to June.")
    (root / "guides" / "install.md").write_text("# Installation\n\nJust pip install it.\n")
    (root / "table.csv").unlink()
    (root / "new.md").write_text("# Fresh\n\nA page about otters.\n")
    second = build_folder_index(str(root), str(out), encoder, config=SMALL, progress=False)
    assert second.incremental and _versions(out) == [1, 2]
    assert sorted(second.changed) == ["guides/install.md", "notes.txt"]
    assert second.added == ["broken.pdf", "new.md"] and second.removed == ["table.csv"]
    assert sorted(encoder.encoded) == sorted([
        "Installation\nJust pip install it.",
        "notes\nMeeting notes: the walrus survey moved to June.",
        "Fresh\nA page about otters."])
    v2 = load_index(second.path)
    ids = set(v2.documents)
    assert not any(i.startswith("table.csv#") for i in ids)
    assert sorted(i for i in ids if i.startswith("guides/")) == ["guides/install.md#0"]
    assert "walrus" in v2.documents["notes.txt#0"].text
    row1 = {d: i for i, d in enumerate(v1.row_ids)}
    row2 = {d: i for i, d in enumerate(v2.row_ids)}
    for doc_id in [i for i in ids if i.startswith(("manual.pdf", "billing.html", "faq.jsonl"))]:
        np.testing.assert_array_equal(v1.embeddings[row1[doc_id]], v2.embeddings[row2[doc_id]])
    assert len(v2) == second.passages == len(v1) - first.passages + second.passages  # no strays
    old_notes = load_index(str(out / "1")).documents["notes.txt#0"].text
    assert old_notes.startswith("Meeting notes: the penguin")  # versions are immutable


def test_strict_makes_a_bad_file_fatal_and_writes_nothing(tmp_path):
    root = make_corpus(tmp_path / "c")
    with pytest.raises(ParseError, match="broken.pdf"):
        build_folder_index(str(root), str(tmp_path / "idx"), CountingEncoder(), strict=True,
                           progress=False)
    assert not (tmp_path / "idx").exists() or _versions(tmp_path / "idx") == []


def test_a_crash_while_saving_publishes_no_version(tmp_path, monkeypatch):
    from lepton_tf.index import storage

    root = make_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    (root / "notes.txt").write_text("changed")

    def crash(documents, path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(storage, "write_documents", crash)
    with pytest.raises(OSError, match="disk full"):
        build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    assert _versions(out) == [1] and sorted(os.listdir(out)) == ["1"]
    monkeypatch.undo()
    retry = build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    assert retry.changed == ["notes.txt"] and _versions(out) == [1, 2]


def test_another_encoder_or_chunking_re_encodes_everything(tmp_path):
    root = make_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    other = CountingEncoder(fingerprint="fake-2")
    report = build_folder_index(str(root), str(out), other, progress=False, log=lambda m: None,
                                self_tune=False)
    assert not report.incremental and len(other.encoded) == report.passages
    rechunk = CountingEncoder(fingerprint="fake-2")
    report = build_folder_index(str(root), str(out), rechunk, config=SMALL, progress=False,
                                self_tune=False)
    assert not report.incremental and len(rechunk.encoded) == report.passages


def test_hits_carry_the_passage_its_document_and_where_it_is(tmp_path):
    from lepton_tf.client.search import SearchHit
    from lepton_tf.search.servable import SearchServable

    root = make_corpus(tmp_path / "c")
    encoder = CountingEncoder()
    build_folder_index(str(root), str(tmp_path / "idx"), encoder, progress=False)
    servable = SearchServable(str(tmp_path / "idx"), encoder.encode_queries)
    out = servable.run("search", {"query": np.array([b"volcanoes erupt molten lava",
                                                     b"refund partial unused months"], object),
                                  "k": np.array(3, np.int32)})
    meta = json.loads(out["metadata"][0, 0])
    assert out["doc_ids"][0, 0] == b"manual.pdf#1" and out["titles"][0, 0] == b"Geology"
    assert meta["source"] == meta["document"] == "manual.pdf" and meta["page"] == 2
    assert out["texts"][0, 0].decode() == "Volcanoes erupt molten lava and ash."
    meta = json.loads(out["metadata"][1, 0])
    assert meta["section"] == "Refunds > Partial refunds" and meta["source"] == "billing.html"
    assert meta["end"] - meta["start"] == len(out["texts"][1, 0].decode())
    hit = SearchHit("manual.pdf#1", 1.0, "Geology", "...", json.loads(out["metadata"][0, 0]))
    assert hit.source == "manual.pdf p. 2 > Geology"


def test_cli_index_folder_and_beir_inputs_still_route(tmp_path, capsys):
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.index import build
    from lepton_tf.index.build import is_file_folder, read_corpus

    root = make_corpus(tmp_path / "c")
    args = build_parser().parse_args(["index", "--corpus", str(root), "--out",
                                      str(tmp_path / "idx"), "--chunk-tokens", "64",
                                      "--chunk-overlap", "8"])
    assert is_file_folder(args.corpus) and build(args, CountingEncoder()) == 0
    printed = capsys.readouterr().out
    assert "Skipped broken.pdf" in printed and "passages" in printed
    assert json.loads((tmp_path / "idx" / "1" / "ingest.json").read_text())["chunking"][
        "max_tokens"] == 64
    strict = build_parser().parse_args(["index", "--corpus", str(root), "--out",
                                        str(tmp_path / "idx2"), "--strict"])
    assert build(strict, CountingEncoder()) == 1
    assert "broken.pdf" in capsys.readouterr().out and not (tmp_path / "idx2" / "1").exists()
    beir = tmp_path / "beir"
    beir.mkdir()
    (beir / "corpus.jsonl").write_text('{"_id": "a", "title": "t", "text": "x"}\n')
    assert not is_file_folder(str(beir)) and not is_file_folder(str(beir / "corpus.jsonl"))
    assert [d.doc_id for d in read_corpus(str(beir))] == ["a"]


_KILLED_BUILD = """
import sys, time
sys.path[:0] = {paths!r}
import lepton_tf.index.storage as storage
from corpus_files import CountingEncoder
from lepton_tf.index.folder_build import build_folder_index

original = storage.write_documents

def slow(documents, path):
    original(documents, path)
    open({ready!r}, "w").close()
    time.sleep(120)  # killed here: the version folder is half written

storage.write_documents = slow
build_folder_index({root!r}, {out!r}, CountingEncoder(), progress=False)
"""


def test_a_kill_9_mid_save_leaves_the_previous_version_current(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = make_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    (root / "notes.txt").write_text("The flamingo census is in August.")
    ready = tmp_path / "ready"
    script = _KILLED_BUILD.format(paths=[os.getcwd(), os.path.dirname(__file__)], ready=str(ready),
                                  root=str(root), out=str(out))
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 240
        while not ready.exists():
            assert child.poll() is None and time.time() < deadline, "the build ended early"
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    assert _versions(out) == [1]
    assert "penguin" in load_index(str(out)).documents["notes.txt#0"].text
    retry = build_folder_index(str(root), str(out), CountingEncoder(), progress=False)
    assert retry.changed == ["notes.txt"] and _versions(out) == [1, 2]
    assert "flamingo" in load_index(str(out)).documents["notes.txt#0"].text
    assert sorted(os.listdir(out)) == ["1", "2"]  # the dead writer's temp folder was swept
