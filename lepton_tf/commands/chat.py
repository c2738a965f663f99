"""`lepton-tf chat`: an interactive, multi-turn chat with the `chat` servable."""

from __future__ import annotations


def run(args) -> int:
    from lepton_tf.client import ChatClient
    from lepton_tf.commands.repl import prompt_loop

    client = ChatClient(args.target, model=args.model, timeout_s=args.timeout,
                        tls=args.tls, token=args.token)
    options = {k: v for k, v in {"max_new_tokens": args.max_new_tokens,
                                 "temperature": args.temperature, "top_p": args.top_p,
                                 "top_k": args.top_k, "num_beams": args.num_beams,
                                 "seed": args.seed}.items() if v is not None}
    print("Chat with the `chat` model; /reset starts over, /quit (or Ctrl-D) ends.")
    return prompt_loop(lambda m: print(f"bot> {client.send(m, **options)}"), client.reset)

def add_client_args(p) -> None:
    p.add_argument("--target", default="localhost:8500", help="gRPC HOST:PORT")
    p.add_argument("--timeout", type=float, default=30.0, help="deadline in seconds")
    p.add_argument("--tls", action="store_true", help="connect with TLS (system CA roots)")
    p.add_argument("--token", help="bearer token")


def register(sub) -> None:
    p = sub.add_parser("chat", help="interactive multi-turn chat over gRPC")
    add_client_args(p)
    p.add_argument("--model", default="chat", help="servable name on the server (default chat)")
    p.add_argument("--max-new-tokens", type=int,
                   help="longest reply in tokens (default: the model's)")
    p.add_argument("--temperature", type=float, help="sampling temperature (with --top-p/--top-k)")
    p.add_argument("--top-p", type=float,
                   help="nucleus sampling: keep the tokens holding this probability mass")
    p.add_argument("--top-k", type=int, help="sample among the k likeliest tokens")
    p.add_argument("--num-beams", type=int,
                   help="beam search with this many beams (default: greedy)")
    p.add_argument("--seed", type=int, help="sampling seed (same seed, same reply)")
    p.set_defaults(fn=run)
