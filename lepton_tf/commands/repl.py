"""The read-answer loop shared by `lepton-tf chat` and `lepton-tf ask`."""

from __future__ import annotations

import builtins
from typing import Callable

import grpc


def prompt_loop(answer: Callable[[str], None], reset: Callable[[], None],
                input_fn: Callable[[str], str] | None = None,
                commands: dict[str, Callable[[str], None]] | None = None) -> int:
    """Reads lines until /quit, /exit, Ctrl-D or Ctrl-C; `/reset` calls `reset`.

    Args:
        answer: prints the reply to one message (may raise `grpc.RpcError`,
            printed as one line: the loop goes on).
        reset: starts a new conversation.
        input_fn: reads a line after a prompt (default: the builtin `input`,
            looked up at each call so a patched one is used).
        commands: more slash commands, `/name` -> `fn(rest of the line)`.

    Returns:
        0, the command's exit status.
    """
    while True:
        try:
            message = (input_fn or builtins.input)("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if message in ("/quit", "/exit"):
            return 0
        if message == "/reset":
            reset()
            continue
        if not message:
            continue
        word, _, rest = message.partition(" ")
        try:
            if word in (commands or {}):
                commands[word](rest.strip())
                continue
            answer(message)
        except grpc.RpcError as e:
            print(f"\nerror: {e.code().name}: {e.details()}")
