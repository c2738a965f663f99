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

    lepton-tf report --server http://localhost:8501            # as a server's caller
    lepton-tf report --audit --server http://localhost:8501    # the audit trail

Each group's data is shown only to its admins (`admin_of` in the tokens
file): with `--server URL` the server decides from the caller's token
(`--token`, or the LEPTON_TOKEN environment variable, which keeps it out of
the process list), and refuses a caller who administers no group. Reading the
database file directly (no `--server`) is its owner's view, everything; give
`--tokens_file FILE` with a token to see it as that token's principal instead.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

TOKEN_ENV = "LEPTON_TOKEN"


def encoder_embed(args):
    """`texts -> embeddings` through the `encoder` served at `--target` (None: no target)."""
    if not args.target:
        return None
    import numpy as np

    from lepton_tf.client.base import PredictClient

    client = PredictClient(args.target, timeout_s=args.timeout, token=caller_token(args))

    def embed(texts):
        rows = []
        for start in range(0, len(texts), 256):
            batch = np.array([t.encode("utf-8") for t in texts[start:start + 256]], object)
            out = client.predict(args.encoder_model, {"text": batch},
                                 signature_name="encode_query")
            rows.append(np.asarray(out["embedding"], np.float32))
        return np.concatenate(rows)
    return embed


def caller_token(args) -> str | None:
    """The caller's bearer token: `--token`, else $LEPTON_TOKEN."""
    return args.token or os.environ.get(TOKEN_ENV) or None


def server_get(url: str, path: str, token: str | None, timeout_s: float) -> dict:
    """The JSON a lepton-tf server answers at `path`, as the token's principal.

    Raises:
        PermissionError: the server refused the caller (401, 403).
        ValueError: any other error answer.
        OSError: the server cannot be reached.
    """
    request = urllib.request.Request(url.rstrip("/") + path, headers={
        "Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("error", "")
        except ValueError:
            message = ""
        error = PermissionError if e.code in (401, 403) else ValueError
        raise error(f"{url}{path} answered {e.code}: {message or e.reason}") from None


def local_viewer(args):
    """The principal reading the database file: its owner (None: everything), or
    with `--tokens_file` the principal of the caller's token.

    Raises:
        PermissionError: no token, or one the tokens file does not know.
    """
    if not args.tokens_file:
        return None
    from lepton_tf.server.authenticators import TokensFile

    token = caller_token(args)
    principal = TokensFile(args.tokens_file).authenticate(token) if token else None
    if principal is None:
        raise PermissionError(f"the token (--token or ${TOKEN_ENV}) is not one of "
                              f"{args.tokens_file}")
    return principal


def audit_lines(records: list[dict]) -> str:
    """The audit trail for a terminal, one line a record."""
    import datetime

    lines = [f"Audit trail: {len(records)} records"]
    for r in records:
        when = datetime.datetime.fromtimestamp(r["time"], datetime.timezone.utc)
        groups = ",".join(r.get("groups") or []) or "-"
        documents = "; ".join(",".join(d) for d in r.get("documents") or []) or "-"
        lines.append(f"  {when:%Y-%m-%d %H:%M:%S} {r['principal']} [{groups}] "
                     f"{r['model']}/{r['action']} {' | '.join(r.get('query') or [])!r} "
                     f"-> {documents} not_found={any(r.get('not_found') or [])} "
                     f"({r['decision']})")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    from lepton_tf.commands.conversations import open_store
    from lepton_tf.store.report import build_report
    from lepton_tf.store.report_render import to_html, to_text

    if args.server:
        path = "/v1/audit" if args.audit else "/v1/report"
        answer = server_get(args.server, path, caller_token(args), args.timeout)
        if args.audit:
            print(audit_lines(answer["records"]), end="")
            return 0
        report = answer
    else:
        viewer = local_viewer(args)
        store = open_store(args)
        try:
            if args.audit:
                from lepton_tf.server.audit import read_for
                from lepton_tf.server.identity import SERVER
                from lepton_tf.store.audit_log import StoreAuditLog

                print(audit_lines(read_for(StoreAuditLog(store), viewer or SERVER)), end="")
                return 0
            report = build_report(store, encoder_embed(args), args.days, args.similarity,
                                  args.top, viewer=viewer)
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

    from lepton_tf.commands.parsers import add_documented

    p = add_documented(sub, "report", "the operator's report of the conversation log", __doc__)
    add_store_args(p)
    p.add_argument("--days", type=float, help="only the last DAYS days (default: all kept)")
    p.add_argument("--html", metavar="FILE", help="also write the report page here")
    p.add_argument("--top", type=int, default=10, help="rows in the ranked lists")
    p.add_argument("--similarity", type=float, default=0.8,
                   help="cosine within which unanswered questions form one group")
    p.add_argument("--target", help="gRPC HOST:PORT serving `encoder` (group by meaning)")
    p.add_argument("--encoder_model", default="encoder", help="its model name")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline of --target calls (s)")
    p.add_argument("--token", help=f"the caller's bearer token, for --target, --server and "
                                   f"--tokens_file (default ${TOKEN_ENV})")
    p.add_argument("--server", metavar="URL", help="read the report from this server's REST "
                   "port (http://HOST:8501) as the token's caller")
    p.add_argument("--audit", action="store_true", help="show the audit trail (who asked "
                   "what, what came back, the permission decision) instead of the report")
    p.add_argument("--tokens_file", help="read the database as this file's principal of "
                   "the token (without it: everything, as the file's owner)")
    p.set_defaults(fn=run)
