"""The example bank customer's accounts: balances from SGD's ``Banks_1`` results.

The shipped example binds ``Banks_1`` (check a balance, transfer money) to the
example database, so the Banking77 "transfer_into_account" skill moves money in a
real table instead of stopping at "no system is connected". The customer is one
person with one account per type, each with the balance SGD's ``Banks_1``
service returned first for that type in the training dialogues (sorted files): real
``service_results`` values, not made-up ones. Whoever updates the vendored data runs

    python -m lepton_tf.dialogue.example_accounts --sgd ../shared/data/sgd/full

which writes ``data/sgd/accounts.jsonl.gz`` (the format of ``entities.jsonl.gz``:
one line, ``service``, ``columns``, ``rows``); `example_db` loads it into the table
``banks_1`` beside the catalogue's.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

from lepton_tf.data.sgd_full import dialogue_paths, read_dialogue_file

ACCOUNTS_FILE = ("sgd", "accounts.jsonl.gz")
BANK_SERVICE = "Banks_1"
COLUMNS = ("account_type", "balance")


def extract_accounts(sgd_dir: str | os.PathLike, out_path: str | os.PathLike) -> dict[str, int]:
    """Write one row per account type: the first ``CheckBalance`` result of each.

    Returns:
        ``{"Banks_1": number of accounts}``.

    Raises:
        FileNotFoundError: no training dialogues, or no ``CheckBalance`` result.
        DataFormatError: a training dialogue file that is not SGD's format.
    """
    balances: dict[str, str] = {}
    for path in dialogue_paths(Path(sgd_dir) / "train"):
        for dialogue in read_dialogue_file(path):
            for turn in dialogue["turns"]:
                for frame in turn["frames"]:
                    call = frame.get("service_call") or {}
                    if frame["service"] != BANK_SERVICE or call.get("method") != "CheckBalance":
                        continue
                    for result in frame.get("service_results", []):
                        balances.setdefault(result["account_type"], result["balance"])
    if not balances:
        raise FileNotFoundError(f"no {BANK_SERVICE} CheckBalance result under {sgd_dir}")
    rows = [[kind, balances[kind]] for kind in sorted(balances)]
    with gzip.open(out_path, "wt", encoding="utf-8", compresslevel=9) as out:
        out.write(json.dumps({"service": BANK_SERVICE, "columns": list(COLUMNS), "rows": rows},
                             separators=(",", ":")) + "\n")
    return {BANK_SERVICE: len(rows)}


def main(argv: list[str] | None = None) -> int:
    """``python -m lepton_tf.dialogue.example_accounts --sgd DIR [--out FILE]``."""
    from lepton_tf.data.paths import data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sgd", required=True, help="the original SGD folder")
    parser.add_argument("--out", default=None, help="default: data/sgd/accounts.jsonl.gz")
    args = parser.parse_args(argv)
    try:
        counts = extract_accounts(args.sgd, args.out or data_dir().joinpath(*ACCOUNTS_FILE))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{counts[BANK_SERVICE]} accounts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
