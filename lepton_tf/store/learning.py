"""The learning loop's files: candidate known questions to review, and the to-do
list of unanswered questions.

`review_rows` proposes, for each search question, a document: the one its
answer cited, or for a question that found nothing its closest match. Rated
up (and never down) rows come pre-accepted (`accept` = yes); the others wait
for the operator (`accept` empty): an answered, unrated one to confirm the
document, a rated-down one or a not-found one to correct `doc_id` to the
document that answers it (or leave it out). The operator edits the CSV;
`accepted_pairs` reads back what was accepted, checked.
"""

from __future__ import annotations

import collections
import csv
from typing import Callable

from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.report import group_questions

REVIEW_COLUMNS = ("accept", "question", "doc_id", "title", "evidence", "asked", "up", "down",
                  "not_found")
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
        if not turn["sources"] or not (turn["route"] == "search" or turn["not_found"]):
            continue
        cited = turn["cited"][0] if turn["cited"] else 1
        first = next((s for s in turn["sources"] if s["n"] == cited), turn["sources"][0])
        key = (_key(turn["message"]), first["doc_id"])
        row = rows.setdefault(key, {"question": turn["message"], "doc_id": first["doc_id"],
                                    "title": first["title"], "asked": 0, "up": 0, "down": 0,
                                    "not_found": 0})
        row["asked"] += 1
        row["not_found"] += bool(turn["not_found"])
        row["up"] += ratings[turn["turn_id"]]["up"]
        row["down"] += ratings[turn["turn_id"]]["down"]
    for row in rows.values():
        if row["down"]:
            row["evidence"] = f"rated down {row['down']}, up {row['up']}: correct doc_id"
        elif row["up"]:
            row["evidence"] = "rated up"
        elif row["not_found"]:
            row["evidence"] = "not found: closest match; correct doc_id"
        else:
            row["evidence"] = "answered, not rated: confirm doc_id"
        row["accept"] = "yes" if row["up"] and not row["down"] else ""
    return sorted(rows.values(), key=lambda r: (r["accept"] != "yes", -r["up"], -r["asked"],
                                                r["question"]))


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
