"""`lepton-tf report`: the operator's report of the assistant's conversations.

    lepton-tf report --search_index indexes/stackfaq            # terminal
    lepton-tf report --days 7 --html runs/report.html           # and a page with charts
    lepton-tf report --target localhost:8500 ...                # group unanswered
                                                                # questions with the
                                                                # served encoder

Turns per day and route, the not-found rate, unanswered questions grouped by
meaning (the `encoder` at `--target`; without it, by their words), the
worst-rated answers with their sources, latency percentiles and feedback per
document. A running server shows the same page at `GET /report`.
"""

from __future__ import annotations

import argparse


def encoder_embed(args):
    """`texts -> embeddings` through the `encoder` served at `--target` (None: no target)."""
    if not args.target:
        return None
    import numpy as np

    from lepton_tf.client.base import PredictClient

    client = PredictClient(args.target, timeout_s=args.timeout, token=args.token)

    def embed(texts):
        rows = []
        for start in range(0, len(texts), 256):
            batch = np.array([t.encode("utf-8") for t in texts[start:start + 256]], object)
            out = client.predict(args.encoder_model, {"text": batch},
                                 signature_name="encode_query")
            rows.append(np.asarray(out["embedding"], np.float32))
        return np.concatenate(rows)
    return embed


def run(args) -> int:
    from lepton_tf.commands.conversations import open_store
    from lepton_tf.store.report import build_report
    from lepton_tf.store.report_render import to_html, to_text

    store = open_store(args)
    try:
        report = build_report(store, encoder_embed(args), args.days, args.similarity,
                              args.top)
    finally:
        store.close()
    print(to_text(report), end="")
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(to_html(report))
        print(f"\nreport page: {args.html}")
    return 0


def register(sub) -> None:
    from lepton_tf.commands.conversations import add_store_args

    p = sub.add_parser("report", help="the operator's report of the conversation log",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_args(p)
    p.add_argument("--days", type=float, help="only the last DAYS days (default: all kept)")
    p.add_argument("--html", metavar="FILE", help="also write the report page here")
    p.add_argument("--top", type=int, default=10, help="rows in the ranked lists")
    p.add_argument("--similarity", type=float, default=0.8,
                   help="cosine within which unanswered questions form one group")
    p.add_argument("--target", help="gRPC HOST:PORT serving `encoder` (group by meaning)")
    p.add_argument("--encoder_model", default="encoder", help="its model name")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline of --target calls (s)")
    p.add_argument("--token", help="bearer token of --target")
    p.set_defaults(fn=run)
