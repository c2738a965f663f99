"""What every bench script's command line shares: the parser that shows the
script's docstring as its help, and the JSON report printed and written."""

from __future__ import annotations

import argparse
import json
import os


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose `--help` is `doc` as written (the usage lines kept)."""
    return argparse.ArgumentParser(description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def write_report(report: dict, out: str | None, indent: int = 1) -> None:
    """Prints `report` as JSON and writes it to `out` (if given; its folder made)."""
    print(json.dumps(report, indent=indent))
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=indent)
