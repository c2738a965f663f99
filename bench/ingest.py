"""Ingestion benchmark: a generated folder of Markdown, HTML and PDF files, or a real one.

    python bench/ingest.py                      # 1,000 files, the exported encoder
    python bench/ingest.py --files 100 --quick  # smoke run
    python bench/package_docs.py /tmp/docs      # a real folder: installed packages' docs
    python bench/ingest.py --folder /tmp/docs --encoder ENCODER --baseline /tmp/old
    python bench/ingest.py --folder /tmp/docs --encoder ENCODER --baseline /tmp/old \
        --also-encoder BFLOAT16_ENCODER

`--folder DIR` indexes that folder from scratch (`build_folder_index`,
progress bars on) and times its stages separately: ingest (scan, parse,
chunk: `folder_build._parse`), encoding (the passages' one encoder pass) and
tuning (`tune_default`: pseudo-queries, re-encoding the cut passages, the
weight search), each as passages/s of the index, with the passages tuning
re-encoded. With `--baseline CHECKOUT` the same folder is indexed first by
that checkout's code (`git worktree add /tmp/old COMMIT`; the stages are
timed the same way, whatever its module names) and then by this one, in one
run, and both are printed side by side; `--also-encoder E` adds a third
build, this checkout with encoder E (a bfloat16 export), after them.

Pages are written from StackFAQ text (a thread's question as the page
title, its answers and others as sections): 45% Markdown, 35% HTML, 20%
PDF (fpdf2, 2-3 pages each, one outline section per page). Measured:

1. parsing + chunking alone (`iter_passages`, one shared `Chunker`):
   passages/s and files/s, per format;
2. end to end (`build_folder_index`: scan + sha256, parse, chunk, encode,
   ScaNN, atomic save) with the encoder SavedModel at `--encoder`; when
   there is none, zero-shot all-MiniLM-L6-v2 is exported to a temp folder
   through the same `export_encoder` (same graph and cost as the fine-tuned
   one) and the report says so;
3. a re-run on the unchanged folder (scan + hashes only), and the re-ingest
   after 10 files change (4 Markdown, 3 HTML, 3 PDF).

Results go to `--out` (JSON) and stdout.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import sys
import tempfile
import time

import bench_cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pages(n: int, seed: int = 0):
    """(title, [(section heading, text)]) for n pages of StackFAQ text."""
    from lepton_tf.data import read_stackfaq

    threads = read_stackfaq()
    answers = [a for t in threads for a in t.answers]
    rng = random.Random(seed)
    for i in range(n):
        thread = threads[i % len(threads)]
        pool = list(thread.answers) + rng.sample(answers, 8)
        sections = []
        for s in range(rng.randint(3, 4)):
            chunk = pool[s * 2:(s + 1) * 2] or rng.sample(answers, 2)
            sections.append((f"{thread.queries[s % len(thread.queries)].capitalize()}",
                             "\n\n".join(chunk)))
        yield f"{thread.question} ({i})", sections


def _markdown(title, sections):
    return f"# {title}\n\n" + "".join(f"## {h}\n\n{t}\n\n" for h, t in sections)


def _html(title, sections):
    body = "".join(f"<h2>{html.escape(h)}</h2>" + "".join(
        f"<p>{html.escape(p)}</p>" for p in t.split("\n\n")) for h, t in sections)
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title>"
            f"<script>var analytics = 1;</script></head><body><nav>Home | Docs</nav>"
            f"<h1>{html.escape(title)}</h1>{body}<footer>(c) docs</footer></body></html>")


def _pdf(path, title, sections):
    from fpdf import FPDF

    latin = lambda s: s.encode("latin-1", "replace").decode("latin-1")
    pdf = FPDF()
    pdf.set_title(latin(title))
    pdf.set_font("helvetica", size=10)
    for heading, text in sections[:3]:
        pdf.add_page()
        pdf.start_section(latin(heading)[:80])
        pdf.multi_cell(0, 5, latin(text))
    pdf.output(path)


def write_file(root: str, i: int, title: str, sections) -> str:
    kind = "md" if i % 20 < 9 else "html" if i % 20 < 16 else "pdf"
    rel = f"{kind}/{i // 100:02d}/page-{i:04d}.{kind}"
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == "pdf":
        _pdf(path, title, sections)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(_markdown(title, sections) if kind == "md" else _html(title, sections))
    return rel


def generate(root: str, n: int) -> list[tuple[str, str, list]]:
    files = []
    for i, (title, sections) in enumerate(_pages(n)):
        files.append((write_file(root, i, title, sections), title, sections))
    return files


def parse_and_chunk(root: str) -> dict:
    from lepton_tf.ingest import Chunker, iter_passages, scan_folder

    chunker = Chunker()
    per_format: dict[str, list] = {}
    start = time.perf_counter()
    total = 0
    for rel, _ in scan_folder(root):
        t = time.perf_counter()
        n = sum(1 for _ in iter_passages(os.path.join(root, rel), relpath=rel, chunker=chunker))
        fmt = per_format.setdefault(rel.rsplit(".", 1)[1], [0, 0, 0.0])
        fmt[0] += 1
        fmt[1] += n
        fmt[2] += time.perf_counter() - t
        total += n
    seconds = time.perf_counter() - start
    return {"files": sum(v[0] for v in per_format.values()), "passages": total,
            "seconds": round(seconds, 2), "passages_per_s": round(total / seconds, 1),
            "files_per_s": round(sum(v[0] for v in per_format.values()) / seconds, 1),
            "per_format": {k: {"files": v[0], "passages": v[1],
                               "passages_per_s": round(v[1] / v[2], 1),
                               "ms_per_file": round(1000 * v[2] / v[0], 1)}
                           for k, v in sorted(per_format.items())}}


def load_encoder(path: str, tmp: str):
    """(encoder, description): the SavedModel at `path`, else zero-shot MiniLM exported."""
    from lepton_tf.index.encoding import SavedModelEncoder

    try:
        encoder = SavedModelEncoder(path)
        return encoder, f"exported encoder {encoder.path}"
    except FileNotFoundError:
        pass
    from lepton_tf.export.encoder_servable import export_encoder
    from lepton_tf.models.retrieval import DualEncoder
    from lepton_tf.models.sentence_encoder import SentenceEncoder

    start = time.time()
    version = export_encoder(DualEncoder(SentenceEncoder.from_minilm()),
                             base_dir=os.path.join(tmp, "models"))
    encoder = SavedModelEncoder(version)
    return encoder, (f"no encoder at {path}: zero-shot all-MiniLM-L6-v2 exported to a temp "
                     f"folder by export_encoder ({time.time() - start:.0f} s, not counted)")


def change_files(root: str, files) -> list[str]:
    kinds = {"md": 4, "html": 3, "pdf": 3}
    changed = []
    for i, (rel, title, sections) in enumerate(files):
        kind = rel.rsplit(".", 1)[1]
        if kinds.get(kind):
            kinds[kind] -= 1
            edited = sections[:-1] + [(sections[-1][0], sections[-1][1] + "\n\nEdited: "
                                       "see the release notes for the new default.")]
            write_file(root, i, title, edited)
            changed.append(rel)
    return changed


class EncoderClock:
    """The encoder, with each `encode_documents` call's size and wall time kept."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.calls: list[tuple[int, float]] = []

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode_documents(self, texts, **kwargs):
        start = time.perf_counter()
        out = self.encoder.encode_documents(texts, **kwargs)
        self.calls.append((len(texts), time.perf_counter() - start))
        return out


def _timed(module, name: str, seconds: dict, stage: str) -> None:
    """Wraps `module.name` to add its wall time to `seconds[stage]`."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
    setattr(module, name, wrapper)


def staged_build(folder: str, encoder_path: str, out_dir: str) -> dict:
    """One fresh build of `folder` with the imported code, its stages timed."""
    import importlib

    from lepton_tf.index.encoding import SavedModelEncoder

    fb = importlib.import_module("lepton_tf.index.folder_build")
    seconds: dict[str, float] = {}
    _timed(fb, "_parse", seconds, "ingest")
    for name in ("lepton_tf.index.fusion_selftune", "lepton_tf.index.selftune"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "tune_default"):
            _timed(module, "tune_default", seconds, "tuning")
            break
    clock = EncoderClock(SavedModelEncoder(encoder_path))
    report = fb.build_folder_index(folder, out_dir, clock, progress=True, rebuild=True,
                                   log=lambda m: print(m, file=sys.stderr))
    passages = report.passages
    seconds["encoding"] = clock.calls[0][1] if clock.calls else 0.0
    result = {"passages": passages, "total_s": round(report.seconds, 1),
              "reencoded_by_tuning": sum(n for n, _ in clock.calls[1:]),
              "load_average": round(os.getloadavg()[0], 1)}
    for stage in ("ingest", "encoding", "tuning"):
        result[f"{stage}_s"] = round(seconds.get(stage, 0.0), 1)
        result[f"{stage}_passages_per_s"] = round(passages / max(seconds.get(stage, 0.0), 1e-9), 1)
    return result


def compare_builds(folder: str, encoder_path: str, checkouts: list[tuple],
                   out: str) -> dict:
    """Runs `staged_build` in a fresh process per checkout, in order; prints a table.

    Args:
        checkouts: `(name, checkout)` or `(name, checkout, encoder)` (another
            encoder than `encoder_path` for that build).
    """
    import subprocess

    here = os.path.abspath(__file__)
    runs = {}
    for name, checkout, *encoder in checkouts:
        result_file = os.path.join(tempfile.mkdtemp(prefix="bench-ingest-"), "stages.json")
        encoder = encoder[0] if encoder else encoder_path
        print(f"== {name}: {checkout}, encoder {encoder}", flush=True)
        subprocess.run([sys.executable, here, "--folder", folder, "--encoder", encoder,
                        "--code", checkout, "--stages-out", result_file], check=True,
                       cwd=checkout)
        with open(result_file) as f:
            runs[name] = json.load(f)
    rows = [("passages", "passages"), ("total_s", "build, s"),
            ("ingest_s", "ingest (scan, parse, chunk), s"),
            ("ingest_passages_per_s", "  passages/s"), ("encoding_s", "encoding, s"),
            ("encoding_passages_per_s", "  passages/s"), ("tuning_s", "tuning, s"),
            ("tuning_passages_per_s", "  passages/s"),
            ("reencoded_by_tuning", "  passages re-encoded by tuning"),
            ("load_average", "load average at the end")]
    print(f"{'':34}" + "".join(f"{name:>22}" for name in runs))
    for key, label in rows:
        print(f"{label:34}" + "".join(f"{run[key]:>22}" for run in runs.values()))
    result = {"folder": folder, "files": len(os.listdir(folder)), "encoder": encoder_path,
              "cpus": os.cpu_count(), "runs": runs,
              "checkouts": {c[0]: list(c[1:]) for c in checkouts}}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"-> {out}")
    return result


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--folder", help="index this real folder (stage timings) instead")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="with --folder: index it with that checkout's code first")
    parser.add_argument("--also-encoder", metavar="ENCODER",
                        help="with --folder: index it a last time with this checkout and this "
                             "encoder (a bfloat16 export: bench/encoder_precision.py)")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # the checkout a child imports
    parser.add_argument("--stages-out", help=argparse.SUPPRESS)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    parser.add_argument("--dir", help="where to generate the folder (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="parse + chunk only")
    parser.add_argument("--out", default=os.path.join("runs", "bench_ingest.json"))
    args = parser.parse_args(argv)
    if args.folder and args.stages_out:  # a child: one checkout's build
        sys.path.insert(0, os.path.abspath(args.code))
        result = staged_build(os.path.abspath(args.folder), os.path.abspath(args.encoder),
                              tempfile.mkdtemp(prefix="bench-ingest-index-"))
        with open(args.stages_out, "w") as f:
            json.dump(result, f)
        return 0
    if args.folder:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        checkouts = ([("baseline", os.path.abspath(args.baseline))] if args.baseline else []) \
            + [("this checkout", root)] + ([("this checkout, --also-encoder", root,
                                              os.path.abspath(args.also_encoder))]
                                            if args.also_encoder else [])
        compare_builds(os.path.abspath(args.folder), os.path.abspath(args.encoder), checkouts,
                       args.out)
        return 0

    tmp = tempfile.mkdtemp(prefix="bench-ingest-")
    root = args.dir or os.path.join(tmp, "corpus")
    start = time.perf_counter()
    files = generate(root, args.files)
    size = sum(os.path.getsize(os.path.join(root, rel)) for rel, _, _ in files)
    result = {"files": len(files), "bytes": size, "cpus": os.cpu_count(),
              "load_average_at_start": round(os.getloadavg()[0], 1),
              "generate_s": round(time.perf_counter() - start, 1)}
    print(f"Generated {len(files)} files ({size / 2**20:.1f} MiB) in {result['generate_s']} s "
          f"under {root}")
    result["parse_chunk"] = parse_and_chunk(root)
    pc = result["parse_chunk"]
    print(f"parse + chunk: {pc['passages']} passages from {pc['files']} files in {pc['seconds']} s"
          f" = {pc['passages_per_s']} passages/s ({pc['files_per_s']} files/s)")
    for fmt, row in pc["per_format"].items():
        print(f"  {fmt:5s} {row['files']:4d} files {row['passages']:5d} passages "
              f"{row['passages_per_s']:8.1f} passages/s {row['ms_per_file']:6.1f} ms/file")
    if not args.quick:
        from lepton_tf.index.folder_build import build_folder_index

        encoder, described = load_encoder(args.encoder, tmp)
        result["encoder"] = described
        print(f"encoder: {described}")
        out = os.path.join(tmp, "index")
        runs = {}
        first = build_folder_index(root, out, encoder, progress=False)
        runs["first"] = first
        runs["unchanged"] = build_folder_index(root, out, encoder, progress=False)
        changed = change_files(root, files)
        runs["ten_changed"] = build_folder_index(root, out, encoder, progress=False)
        assert sorted(runs["ten_changed"].changed) == sorted(changed), runs["ten_changed"].changed
        result["end_to_end"] = {
            name: {"seconds": round(r.seconds, 2), "encoded": r.encoded, "passages": r.passages,
                   "written": r.written, "changed_files": len(r.changed)}
            for name, r in runs.items()}
        result["end_to_end"]["first"]["passages_per_s"] = round(first.passages / first.seconds, 1)
        for name, row in result["end_to_end"].items():
            print(f"{name:12s} {row['seconds']:8.2f} s  {row['encoded']:5d} encoded  "
                  f"{row['passages']} passages in the index")
    result["load_average_at_end"] = round(os.getloadavg()[0], 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
