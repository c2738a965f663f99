"""`lepton-tf search "query"`: the top-k documents from the `search` servable.

    lepton-tf search "reset my password"                        # hybrid
    lepton-tf search "E1234" --mode bm25 --filter '{"source": ["a.md", "b.md"]}'
"""

from __future__ import annotations

import json


def run(args) -> int:
    import grpc

    from lepton_tf.client import SearchClient

    client = SearchClient(args.target, model=args.model, timeout_s=args.timeout,
                          tls=args.tls, token=args.token)
    try:
        hits = client.search(args.query, k=args.k, mode=args.mode, filter=args.filter)
    except grpc.RpcError as e:
        print(f"lepton-tf search: {e.code().name}: {e.details()}")
        return 1
    if args.json:
        print(json.dumps([h.__dict__ for h in hits], ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("no results")
        return 0
    if any(hit.dense_score is not None for hit in hits):
        print(SCORE_LEGEND)
    for rank, hit in enumerate(hits, 1):
        print(format_hit(rank, hit))
        if hit.metadata.get("source"):
            print(f"     {hit.source}")
    return 0


# The fused score is min-max normalised per query (the top hit is always 1),
# so it ranks but says nothing of how well a hit matches: the two
# retrievers' own scores do.
SCORE_LEGEND = ("ranked by the fused score; cosine: meaning match (-1..1, about 0.5+ is "
                "on topic), BM25: shared words (0: none)")


def format_hit(rank: int, hit) -> str:
    """One result line: rank, cosine and BM25 when the server gave them, id, title, text.

    Args:
        rank: 1-based rank.
        hit: a `SearchHit`.

    Returns:
        e.g. " 1. cosine 0.62  BM25  7.41  d3 Card lost - I lost my card ..."
    """
    if hit.dense_score is None and hit.bm25_score is None:
        scores = f"[{hit.score:.3f}]"
    else:
        cosine = "  -  " if hit.dense_score is None else f"{hit.dense_score:.2f}"
        bm25 = "  -  " if hit.bm25_score is None else f"{hit.bm25_score:5.2f}"
        scores = f"cosine {cosine}  BM25 {bm25}"
    title = f"{hit.title} " if hit.title else ""
    text = " ".join(hit.text.split())
    return f"{rank:2d}. {scores}  {hit.doc_id} {title}- {text[:160]}"


def register(sub) -> None:
    from lepton_tf.commands.chat import add_client_args
    from lepton_tf.contracts import search as contract

    p = sub.add_parser("search", help="one search query over gRPC")
    p.add_argument("query", help="the search query (quote it)")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--model", default=contract.MODEL,
                   help="servable name on the server (default search)")
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument("--mode", choices=contract.MODES,
                   help="retrieval mode (default: the server's, hybrid)")
    p.add_argument("--filter", metavar="JSON",
                   help='metadata filter: {"field": value} or {"field": [values]}, '
                        "fields doc_id, title or any metadata key (source, page, ...)")
    add_client_args(p)
    p.set_defaults(fn=run)
