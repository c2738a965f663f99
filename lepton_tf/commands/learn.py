"""`lepton-tf learn`: turn the conversation log into known questions.

    lepton-tf learn export --review runs/review.csv --todo runs/todo.csv
        # review.csv: candidate (question, document) pairs: answers rated up are
        # pre-accepted (accept=yes); answered, unrated ones wait for you to confirm
        # the document (write yes). todo.csv: unanswered questions grouped by
        # meaning (with --target, the served encoder), biggest first: what to write.
    lepton-tf learn apply runs/review.csv --search_index indexes/stackfaq
        # the accepted rows become known questions of their documents in a new
        # index version (no rebuild); the fusion weight and the not-found rule
        # are fitted again on them. A running server loads the version by itself.
"""

from __future__ import annotations

import time


def run(args) -> int:
    if args.action == "export":
        return export(args)
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.learned_questions import learn_questions
    from lepton_tf.store.learning import accepted_pairs

    pairs = accepted_pairs(args.review)
    if not pairs:
        print(f"learn: no accepted row in {args.review} (write yes in the accept column)")
        return 0
    learn_questions(args.search_index, SavedModelEncoder(args.encoder), pairs)
    return 0


def export(args) -> int:
    from lepton_tf.commands.conversations import open_store
    from lepton_tf.commands.report import encoder_embed
    from lepton_tf.store.learning import (REVIEW_COLUMNS, TODO_COLUMNS, review_rows, todo_rows,
                                          write_csv)

    since = 0.0 if args.days is None else time.time() - args.days * 86400.0
    store = open_store(args)
    try:
        review = review_rows(store, since)
        todo = todo_rows(store, encoder_embed(args), since, args.similarity)
    finally:
        store.close()
    write_csv(review, REVIEW_COLUMNS, args.review)
    write_csv(todo, TODO_COLUMNS, args.todo)
    accepted = sum(r["accept"] == "yes" for r in review)
    print(f"learn: {len(review)} candidate known questions -> {args.review} ({accepted} rated "
          f"up, pre-accepted; {len(review) - accepted} to confirm)")
    print(f"learn: {len(todo)} groups of unanswered questions -> {args.todo}")
    return 0


def register(sub) -> None:
    from lepton_tf.commands.conversations import add_store_args
    from lepton_tf.commands.parsers import add_with_actions

    actions = add_with_actions(sub, "learn", "known questions from the conversation log "
                               "(export a review file, apply it)", __doc__)
    out = actions.add_parser("export", help="write the review CSV and the unanswered to-do")
    add_store_args(out)
    out.add_argument("--review", default="review.csv", help="review CSV to write")
    out.add_argument("--todo", default="todo.csv", help="unanswered groups CSV to write")
    out.add_argument("--days", type=float, help="only the last DAYS days")
    out.add_argument("--similarity", type=float, default=0.8,
                     help="cosine within which unanswered questions form one group")
    out.add_argument("--target", help="gRPC HOST:PORT serving `encoder` (group by meaning)")
    out.add_argument("--encoder_model", default="encoder", help="its model name")
    out.add_argument("--timeout", type=float, default=30.0,
                     help="deadline of --target calls (s)")
    out.add_argument("--token", help="bearer token of --target")
    apply = actions.add_parser("apply", help="add the accepted rows as known questions")
    apply.add_argument("review", help="the reviewed CSV")
    apply.add_argument("--search_index", default="indexes/stackfaq",
                       help="index base folder (its latest version is updated)")
    apply.add_argument("--encoder", default="saved_models/encoder",
                       help="the index's encoder SavedModel")
    for action in (out, apply):
        action.set_defaults(fn=run)
