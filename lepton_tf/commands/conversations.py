"""`lepton-tf conversations`: delete one session's data (its audit records
included), or purge old turns and audit records.

    lepton-tf conversations forget SESSION_ID --search_index indexes/stackfaq
    lepton-tf conversations purge --days 30 --conversation_store postgresql://...

The store is found as `lepton-tf serve` finds it: `--conversation_store`
(a URL or a SQLite path), else the SQLite file beside `--search_index`.

A caller of a server forgets one of its own conversations through the server
(the token's principal owns it; another caller's session of the same id is
not touched):

    LEPTON_TOKEN=... lepton-tf conversations forget SESSION_ID --target localhost:8500

On the database file itself, `--principal NAME` names a restricted caller's
session (its sessions are stored under its name).
"""

from __future__ import annotations



def add_store_args(p) -> None:
    """The flags that name a conversation store (shared by report and learn)."""
    p.add_argument("--conversation_store", metavar="URL|PATH",
                   help="postgresql://... or a SQLite file (default: the file beside "
                        "--search_index, as `lepton-tf serve` uses)")
    p.add_argument("--search_index", default="indexes/stackfaq",
                   help="the served index (default indexes/stackfaq)")


def open_store(args):
    """The store the flags name (it must exist: nothing is created here).

    Raises:
        ValueError: no store there, or `none`.
        StoreError: it cannot be opened.
    """
    import os

    from lepton_tf.commands.serve import conversation_store_url
    from lepton_tf.store import ConversationStore

    url = conversation_store_url(args)
    if url is None:
        raise ValueError("--conversation_store none names no store.")
    if url.startswith("sqlite:///") and not os.path.isfile(url[len("sqlite:///"):]):
        raise ValueError(f"no conversation store at {url[len('sqlite:///'):]} (give "
                         "--conversation_store or the --search_index the server used)")
    return ConversationStore.open(url)


def forget_through_server(args) -> int:
    """`forget` as the token's caller, through the server's gRPC `Forget`.

    Raises:
        PermissionError: the server refused the token.
        ValueError: nothing stored for that session (of this caller), or another error.
    """
    import grpc

    from lepton_tf.client.assistant import AssistantClient
    from lepton_tf.commands.report import caller_token

    client = AssistantClient(args.target, args.session_id, token=caller_token(args))
    try:
        deleted = client.forget()["deleted_rows"]
    except grpc.RpcError as e:
        error = PermissionError if e.code() in (grpc.StatusCode.UNAUTHENTICATED,
                                                grpc.StatusCode.PERMISSION_DENIED) \
            else ValueError
        raise error(f"{args.target}: {e.code().name}: {e.details()}") from None
    finally:
        client.close()
    print(f"deleted {int(deleted)} rows of session {args.session_id}")
    return 0


def run(args) -> int:
    from lepton_tf.store import UnknownTurnError

    if args.action == "forget" and args.target:
        return forget_through_server(args)
    store = open_store(args)
    try:
        if args.action == "forget":
            from lepton_tf.server.identity import Principal, owned_session

            key = owned_session(Principal(args.principal), args.session_id) \
                if args.principal else args.session_id
            try:
                deleted = store.delete_session(key)
            except UnknownTurnError as e:
                raise ValueError(str(e)) from None
            print(f"deleted {deleted} rows of session {args.session_id}")
        else:
            deleted = store.purge(args.days, audit_retention_days=args.audit_retention_days)
            audit_days = args.days if args.audit_retention_days is None \
                else args.audit_retention_days
            print(f"deleted {deleted} rows: turns, feedback and sessions older than "
                  f"{args.days:g} days, audit records older than {audit_days:g} days")
    finally:
        store.close()
    return 0


def register(sub) -> None:
    from lepton_tf.commands.parsers import add_with_actions

    actions = add_with_actions(sub, "conversations", "delete a session's stored data, or "
                               "purge old turns", __doc__)
    forget = actions.add_parser("forget", help="delete one session's state, turns, feedback "
                                 "and the audit records of its turns")
    forget.add_argument("session_id", help="the session to delete")
    forget.add_argument("--target", metavar="HOST:PORT", help="forget it through this "
                        "server's gRPC port, as the caller of --token (or $LEPTON_TOKEN)")
    forget.add_argument("--token", help="the caller's bearer token (default $LEPTON_TOKEN)")
    forget.add_argument("--principal", help="on the database file: the restricted caller "
                        "whose session it is")
    purge = actions.add_parser("purge", help="delete what is older than --days")
    purge.add_argument("--days", type=float, required=True,
                       help="delete turns, feedback and sessions older than this")
    purge.add_argument("--audit_retention_days", type=float, metavar="DAYS",
                       help="delete audit records older than this (default: --days; an "
                            "assistant turn's record goes with its turn at the latest)")
    for q in (forget, purge):
        add_store_args(q)
        q.set_defaults(fn=run)
