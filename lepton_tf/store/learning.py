"""The learning loop's files: candidate known questions to review, and the to-do
list of unanswered questions.

`review_rows` proposes, for each search question, a document: the one its
answer cited, or for a question that found nothing its closest match (and for
those, as for answers rated down, the other documents shown too). Rated
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
SHOWN_CANDIDATES = 3  # documents proposed for a question answered wrong or not at all


def _key(question: str) -> str:
    return " ".join(question.lower().split())


def review_rows(store: ConversationStore, since: float = 0.0) -> list[dict]:
    """Candidate `(question, document)` pairs from answered search turns, most asked first.

    A question whose answer was rated down, or that found nothing, is proposed
    with each document it was shown (up to `SHOWN_CANDIDATES`), not only the cited
    or closest one: the operator can confirm the one that answers it instead of
    looking up a document id.
    """
    ratings: dict = collections.defaultdict(collections.Counter)
    for f in store.feedback(since):
        ratings[f["turn_id"]][f["rating"]] += 1
    rows: dict = {}
    for turn in store.turns(since):
        if not turn["sources"] or not (turn["route"] == "search" or turn["not_found"]):
            continue
        rated = ratings[turn["turn_id"]]
        cited = turn["cited"][0] if turn["cited"] else 1
        first = next((s for s in turn["sources"] if s["n"] == cited), turn["sources"][0])
        proposed = [first]
        if turn["not_found"] or rated["down"]:
            proposed += [s for s in turn["sources"][:SHOWN_CANDIDATES] if s is not first]
        for source in proposed:
            key = (_key(turn["message"]), source["doc_id"])
            row = rows.setdefault(key, {"question": turn["message"], "doc_id": source["doc_id"],
                                        "title": source["title"], "asked": 0, "up": 0,
                                        "down": 0, "not_found": 0, "shown_as": None})
            row["asked"] += 1
            row["not_found"] += bool(turn["not_found"])
            if source is first:  # the rating is of the answer from this document
                row["up"] += rated["up"]
                row["down"] += rated["down"]
                row["shown_as"] = 0
            elif row["shown_as"] is None:
                row["shown_as"] = source["n"]
    for row in rows.values():
        row["evidence"] = _evidence(row)
        row["accept"] = "yes" if row["up"] and not row["down"] else ""
        del row["shown_as"]
    return sorted(rows.values(), key=lambda r: (r["accept"] != "yes", -r["up"], -r["asked"],
                                                r["question"]))


def _evidence(row: dict) -> str:
    if row["down"]:
        return f"rated down {row['down']}, up {row['up']}: correct doc_id"
    if row["up"]:
        return "rated up"
    if row["shown_as"]:  # another shown document of a missed or wrong answer
        return (f"{'not found' if row['not_found'] else 'answer rated down'}: shown "
                f"#{row['shown_as']}; confirm doc_id")
    if row["not_found"]:
        return "not found: closest match; correct doc_id"
    return "answered, not rated: confirm doc_id"


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
