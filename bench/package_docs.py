"""A documentation folder nobody here wrote, from what this machine has installed.

    python bench/package_docs.py DIR [--limit 80]

Copies, unchanged, into DIR (flat, one file each):

- each installed Python package's README: the body of its
  `*.dist-info/METADATA` (after the e-mail style headers), saved with the
  suffix of its `Description-Content-Type` (`.md`, `.rst`, else `.txt`),
  when it has at least `--min-chars` characters;
- documentation files shipped inside packages (`*.md`, `*.rst`, `*.txt`
  under a `docs`/`doc` folder or named README/best_practices/guidelines);
- HTML manuals and PDFs under `/usr/share/doc` (a few, for the formats).

Files are taken in a fixed order (sorted paths) up to `--limit`, so two runs
on one machine give the same folder. `bench/ingest.py --folder DIR` indexes it.
Each file keeps its own project's licence; the folder is for local
measurement only and is not redistributed.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
import sysconfig

import bench_cli

_SUFFIX = {"text/markdown": ".md", "text/x-rst": ".rst"}
_DOC_NAME = re.compile(r"(?:^|/)(?:docs?|documentation)/[^/]+\.(?:md|rst|txt)$"
                       r"|(?:readme|best_practices|guidelines)[^/]*\.(?:md|rst|txt)$", re.I)
_NOT_DOCS = re.compile(r"licen[cs]e|copying|notice|authors|/tests?/|entry_points|top_level"
                       r"|requirements|vocab|dependency_links|/include/", re.I)


def metadata_readmes(site_packages: str, min_chars: int):
    """`(file name, text)` of each package README long enough."""
    for path in sorted(glob.glob(os.path.join(site_packages, "*.dist-info", "METADATA"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            head, _, body = f.read().partition("\n\n")
        if len(body.strip()) < min_chars or os.path.basename(os.path.dirname(path)).startswith("lepton"):
            continue  # (this project's own README is no stranger's text)
        kind = re.search(r"^Description-Content-Type:\s*([\w/+-]+)", head, re.M | re.I)
        suffix = _SUFFIX.get(kind.group(1).lower() if kind else "", ".txt")
        name = os.path.basename(os.path.dirname(path)).split("-")[0].lower().replace("_", "-")
        yield f"{name}-README{suffix}", body


def shipped_docs(site_packages: str, min_chars: int):
    """`(file name, source path)` of documentation files inside packages."""
    for path in sorted(glob.glob(os.path.join(site_packages, "**", "*.*"), recursive=True)):
        rel = os.path.relpath(path, site_packages)
        if ".dist-info" in rel or not _DOC_NAME.search(rel) or _NOT_DOCS.search(rel):
            continue
        if os.path.getsize(path) >= min_chars:
            yield rel.replace(os.sep, "-"), path


def system_docs(limit_html: int = 8):
    """`(file name, source path)`: a few HTML manuals and every PDF under /usr/share/doc."""
    html = sorted(glob.glob("/usr/share/doc/*/html/*.html"))[:limit_html]
    pdfs = sorted(glob.glob("/usr/share/doc/**/*.pdf", recursive=True))
    for path in html + pdfs:
        yield path.replace("/usr/share/doc/", "").replace("/", "-"), path


def collect(dest: str, limit: int = 80, min_chars: int = 2000,
            site_packages: str | None = None) -> list[str]:
    """Fills `dest` (made if missing); returns the file names written."""
    site_packages = site_packages or sysconfig.get_paths()["purelib"]
    os.makedirs(dest, exist_ok=True)
    written: list[str] = []
    for name, path in system_docs():
        shutil.copyfile(path, os.path.join(dest, name))
        written.append(name)
    for name, path in shipped_docs(site_packages, min_chars):
        if len(written) >= limit // 2:
            break
        shutil.copyfile(path, os.path.join(dest, name))
        written.append(name)
    for name, text in metadata_readmes(site_packages, min_chars):
        if len(written) >= limit:
            break
        if name not in written:
            with open(os.path.join(dest, name), "w", encoding="utf-8") as f:
                f.write(text)
            written.append(name)
    return written


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("dest")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--min-chars", type=int, default=2000)
    args = parser.parse_args(argv)
    names = collect(args.dest, args.limit, args.min_chars)
    size = sum(os.path.getsize(os.path.join(args.dest, n)) for n in names)
    kinds: dict[str, int] = {}
    for n in names:
        kinds[os.path.splitext(n)[1]] = kinds.get(os.path.splitext(n)[1], 0) + 1
    print(f"{len(names)} files ({size / 2**20:.1f} MiB) in {args.dest}: "
          + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
