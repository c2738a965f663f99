"""The learning loop's files: candidate known questions to review, and the to-do
list of unanswered questions.

`review_rows` proposes, for each answered search question, the document its
answer cited: rated up (and never down) rows come pre-accepted (`accept`
= yes), answered but unrated ones wait for the operator to confirm the
document (`accept` empty: write yes to accept). Rated-down answers are left
out: their document was wrong. The operator edits the CSV; `accepted_pairs`
reads back what was accepted, checked.
"""

from __future__ import annotations

import collections
import csv
from typing import Callable

from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.report import group_questions

REVIEW_COLUMNS = ("accept", "question", "doc_id", "title", "evidence", "asked", "up", "down")
TODO_COLUMNS = ("count", "question", "other_phrasings")
YES = ("yes", "y", "1", "true", "x")


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def review_rows(store: ConversationStore, since: float = 0.0) -> list[dict]:
    """Candidate `(question, document)` pairs from answered search turns, most asked first."""
    ratings: dict = collections.defaultdict(collections.Counter)
    for f in store.feedback(since):
        ratings[f["turn_id"]][f["rating"]] += 1
    rows: dict = {}
    for turn in store.turns(since):
        if turn["route"] != "search" or turn["not_found"] or not turn["cited"]:
            continue
        first = next((s for s in turn["sources"] if s["n"] == turn["cited"][0]), None)
        if first is None:
            continue
        key = (_key(turn["message"]), first["doc_id"])
        row = rows.setdefault(key, {"question": turn["message"], "doc_id": first["doc_id"],
                                    "title": first["title"], "asked": 0, "up": 0, "down": 0})
        row["asked"] += 1
        row["up"] += ratings[turn["turn_id"]]["up"]
        row["down"] += ratings[turn["turn_id"]]["down"]
    out = []
    for row in rows.values():
        if row["down"]:
            continue  # a wrong document: not a candidate
        row["evidence"] = "rated up" if row["up"] else "answered, not rated"
        row["accept"] = "yes" if row["up"] else ""
        out.append(row)
    return sorted(out, key=lambda r: (-r["up"], -r["asked"], r["question"]))


def todo_rows(store: ConversationStore, embed: Callable | None = None,
              since: float = 0.0, similarity: float = 0.8) -> list[dict]:
    """Unanswered questions grouped by meaning, biggest group first (what to write next)."""
    questions = [t["message"] for t in store.turns(since) if t["not_found"]]
    return [{"count": g["count"], "question": g["example"],
             "other_phrasings": " | ".join(g["questions"][1:])}
            for g in group_questions(questions, embed, similarity)]


def write_csv(rows: list[dict], columns, path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def accepted_pairs(path: str) -> list[tuple[str, str]]:
    """`(question, doc_id)` of the rows the operator accepted, without repeats.

    Raises:
        ValueError: not a review file (columns missing), or an accepted row
            without a question or a document (with its line number).
    """
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"accept", "question", "doc_id"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} is not a review file of `lepton-tf learn export`: no "
                             f"column {', '.join(sorted(missing))}.")
        pairs, seen = [], set()
        for line, row in enumerate(reader, 2):
            if (row.get("accept") or "").strip().lower() not in YES:
                continue
            question, doc_id = (row.get("question") or "").strip(), \
                (row.get("doc_id") or "").strip()
            if not question or not doc_id:
                raise ValueError(f"{path} line {line}: an accepted row needs a question and "
                                 "a doc_id.")
            if (_key(question), doc_id) not in seen:
                seen.add((_key(question), doc_id))
                pairs.append((question, doc_id))
    return pairs
