"""Ingestion benchmark: a generated folder of Markdown, HTML and PDF files.

    python bench/ingest.py                      # 1,000 files, the exported encoder
    python bench/ingest.py --files 100 --quick  # smoke run

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


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    parser.add_argument("--dir", help="where to generate the folder (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="parse + chunk only")
    parser.add_argument("--out", default=os.path.join("runs", "bench_ingest.json"))
    args = parser.parse_args(argv)

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
