"""`lepton-tf ask`: the assistant in the terminal, over gRPC.

Each turn is streamed (`/lepton.assistant.v1.Assistant/Stream`): the reply
as it comes, then its numbered sources, the closest matches when nothing
answers the question, and related questions. `/reset` starts a new
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
    print("Ask the assistant; /reset starts over, /quit (or Ctrl-D) ends.")

    def reset() -> None:
        client.session_id = _session()
        print("(new conversation)")

    return prompt_loop(lambda m: print_answer(stream_turn(client, m, prompt="bot> ")), reset,
                       input_fn)


def register(sub) -> None:
    from lepton_tf.commands.chat import add_client_args

    p = sub.add_parser("ask", help="the assistant in the terminal over gRPC (streamed, "
                                   "with sources and related questions)")
    add_client_args(p)
    p.add_argument("--model", default="assistant", help="the assistant's model name "
                                                         "(default assistant)")
    p.set_defaults(fn=run)
