"""`lepton-tf ask`: the assistant in the terminal, over gRPC.

Each turn is streamed (`/lepton.assistant.v1.Assistant/Stream`): the reply
as it comes, then its numbered sources, the closest matches when nothing
answers the question, and related questions. `/good` or `/bad` (optionally
followed by a comment) rates the last answer, `/reset` starts a new
conversation (a new session id), `/quit` or Ctrl-D ends. Beside it,
`lepton-tf chat` talks to the raw `chat` model.

    lepton-tf serve --model_config_file runs/models.config \\
        --search_index indexes/stackfaq --assistant &
    lepton-tf ask
"""

from __future__ import annotations

import uuid


def _session() -> str:
    return f"ask-{uuid.uuid4().hex[:12]}"


def run(args, input_fn=None) -> int:
    from lepton_tf.assistant.demo import print_answer, stream_turn
    from lepton_tf.commands.repl import prompt_loop
    from lepton_tf.client.assistant import AssistantClient

    client = AssistantClient(args.target, session_id=_session(), model=args.model,
                             timeout_s=args.timeout, tls=args.tls, token=args.token)
    print("Ask the assistant; /good or /bad [comment] rates the last answer, /reset starts "
          "over, /quit (or Ctrl-D) ends.")
    last = {"turn_id": None}

    def reset() -> None:
        client.session_id = _session()
        last["turn_id"] = None
        print("(new conversation)")

    def answer(message: str) -> None:
        final = stream_turn(client, message, prompt="bot> ")
        last["turn_id"] = final.get("turn_id") if final else None
        print_answer(final)

    def rate(rating: str):
        def send(comment: str) -> None:
            if not last["turn_id"]:
                print("(nothing to rate yet: ask something first)")
                return
            client.feedback(last["turn_id"], rating, comment)
            print(f"(thanks: answer rated {rating})")
        return send

    return prompt_loop(answer, reset, input_fn, {"/good": rate("up"), "/bad": rate("down")})


def register(sub) -> None:
    from lepton_tf.commands.chat import add_client_args

    p = sub.add_parser("ask", help="the assistant in the terminal over gRPC (streamed, "
                                   "with sources and related questions)")
    add_client_args(p)
    p.add_argument("--model", default="assistant", help="the assistant's model name "
                                                         "(default assistant)")
    p.set_defaults(fn=run)
