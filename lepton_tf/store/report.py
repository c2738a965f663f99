"""The operator's report over the turn log: what users asked, what went unanswered,
what was rated wrong, how fast it was.

`build_report` returns plain data (rendered by `report_render` as text or as
an HTML page with charts). Unanswered questions are grouped by meaning with
the encoder when an `embed` function is given (average-linkage clustering of
the embeddings, scipy), else by their words (lower-cased, same text).
"""

from __future__ import annotations

import collections
import datetime
import time
from typing import Callable

import numpy as np

from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.report_access import visible_turn_ids

DEFAULT_SIMILARITY = 0.8  # cosine within which two unanswered questions are one group
LATENCY_QUANTILES = (50, 90, 95, 99)


def _day(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")


def group_questions(questions: list[str], embed: Callable | None = None,
                    similarity: float = DEFAULT_SIMILARITY) -> list[dict]:
    """Questions grouped by meaning, biggest group first.

    Args:
        questions: the questions (repeats count).
        embed: `texts -> [N, D]` L2-normalised embeddings; None: group by text.
        similarity: the least average cosine within a group.

    Returns:
        `{"count", "example", "questions": [distinct, most asked first]}` per group.
    """
    if not questions:
        return []
    if embed is None or len(questions) == 1:
        labels = _text_labels(questions)
    else:
        from scipy.cluster.hierarchy import fcluster, linkage

        vectors = np.asarray(embed(questions), np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        tree = linkage(vectors, method="average", metric="cosine")
        labels = list(fcluster(tree, t=1.0 - similarity, criterion="distance"))
    groups: dict = collections.defaultdict(list)
    for label, question in zip(labels, questions):
        groups[label].append(question)
    out = []
    for members in groups.values():
        counts = collections.Counter(members).most_common()
        out.append({"count": len(members), "example": counts[0][0],
                    "questions": [q for q, _ in counts]})
    return sorted(out, key=lambda g: (-g["count"], g["example"]))


def _text_labels(questions: list[str]) -> list[str]:
    return [" ".join(q.lower().split()).rstrip("?!. ") for q in questions]


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    return {f"p{q}": round(float(np.percentile(values, q)), 1) for q in LATENCY_QUANTILES}


def build_report(store: ConversationStore, embed: Callable | None = None,
                 days: float | None = None, similarity: float = DEFAULT_SIMILARITY,
                 top: int = 10, now: float | None = None, viewer=None,
                 documents_of_groups: Callable | None = None) -> dict:
    """The report's sections over the turns of the last `days` (None: all).

    Args:
        store: the conversation store.
        embed: the encoder for grouping unanswered questions (None: by text).
        days: how far back to look.
        similarity: see `group_questions`.
        top: rows in the unanswered and worst-rated lists.
        now: the report's time (tests).
        viewer: the `Principal` asking: only the turns (and their questions,
            documents and ratings) of the groups it administers are counted
            (`report_access`); None: the database's owner, everything.
        documents_of_groups: `(viewer, doc ids) -> the ids a member of the
            viewer's groups may read`: the sources and documents a restricted
            admin is shown (a caller in two groups: the other group's
            documents stay hidden); None: all of the visible turns'.

    Returns:
        A dict: `period`, `turns`, `per_day`, `per_route`, `not_found`,
        `unanswered`, `worst_rated`, `latency_ms`, `documents`, `grouped_by`,
        `scope` (`all`, or the groups shown).

    Raises:
        PermissionError: the viewer administers no group.
    """
    now = time.time() if now is None else now
    since = 0.0 if days is None else now - days * 86400.0
    visible = visible_turn_ids(store, viewer)
    turns = [t for t in store.turns(since) if visible is None or t["turn_id"] in visible]
    if visible is not None and documents_of_groups is not None:
        shown = documents_of_groups(viewer, sorted({s["doc_id"] for t in turns
                                                    for s in t["sources"]}))
        turns = [dict(t, sources=[s for s in t["sources"] if s["doc_id"] in shown])
                 for t in turns]
    ratings = [f for f in store.feedback(since) if visible is None or f["turn_id"] in visible]
    by_turn = {t["turn_id"]: t for t in turns}
    per_day: dict = collections.defaultdict(collections.Counter)
    per_route = collections.Counter()
    latency: dict = collections.defaultdict(list)
    searches = not_found = 0
    unanswered = []
    for t in turns:
        per_day[_day(t["created_at"])][t["route"]] += 1
        per_route[t["route"]] += 1
        latency["all"].append(t["latency_ms"])
        latency[t["route"]].append(t["latency_ms"])
        if t["route"] == "search" or t["not_found"]:
            searches += 1
        if t["not_found"]:
            not_found += 1
            unanswered.append(t["message"])

    scored: dict = collections.defaultdict(lambda: {"up": 0, "down": 0, "comments": []})
    documents: dict = collections.defaultdict(lambda: {"up": 0, "down": 0, "title": ""})
    for f in ratings:
        turn = by_turn.get(f["turn_id"])
        if turn is None:
            continue
        entry = scored[f["turn_id"]]
        entry[f["rating"]] += 1
        if f["comment"]:
            entry["comments"].append(f["comment"])
        cited = set(turn["cited"]) or {1}  # uncited: its first source (numbered from 1)
        for source in turn["sources"]:
            if source["n"] in cited:
                documents[source["doc_id"]][f["rating"]] += 1
                documents[source["doc_id"]]["title"] = source["title"]
    worst = sorted(((e["down"] - e["up"], e["down"], tid) for tid, e in scored.items()
                    if e["down"]), key=lambda x: (-x[0], -x[1]))[:top]
    worst_rated = [{"turn_id": tid, "message": by_turn[tid]["message"],
                    "reply": by_turn[tid]["reply"], "route": by_turn[tid]["route"],
                    "up": scored[tid]["up"], "down": scored[tid]["down"],
                    "comments": scored[tid]["comments"],
                    "sources": [{k: s[k] for k in ("n", "doc_id", "title", "score")}
                                for s in by_turn[tid]["sources"]]}
                   for _, _, tid in worst]
    return {
        "period": {"since": _day(since) if since else (_day(turns[0]["created_at"])
                                                        if turns else _day(now)),
                   "until": _day(now), "days": days},
        "turns": len(turns),
        "sessions": len({t["session_id"] for t in turns}),
        "per_day": {day: dict(c) for day, c in sorted(per_day.items())},
        "per_route": dict(per_route.most_common()),
        "not_found": {"turns": not_found, "searches": searches,
                      "rate": round(not_found / searches, 4) if searches else 0.0},
        "unanswered": group_questions(unanswered, embed, similarity)[:top],
        "unanswered_total": len(unanswered),
        "grouped_by": "encoder" if embed is not None else "text",
        "scope": "all" if visible is None else sorted(viewer.admin_of),
        "worst_rated": worst_rated,
        "latency_ms": {route: _percentiles(v) for route, v in latency.items()},
        "documents": sorted(({"doc_id": d, **v} for d, v in documents.items()),
                            key=lambda d: (d["up"] - d["down"], d["doc_id"])),
        "ratings": {"up": sum(f["rating"] == "up" for f in ratings),
                    "down": sum(f["rating"] == "down" for f in ratings)},
    }
