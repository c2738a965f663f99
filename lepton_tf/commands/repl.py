"""The read-answer loop shared by `lepton-tf chat` and `lepton-tf ask`."""

from __future__ import annotations

import builtins
import sys
from typing import Callable


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
    import grpc

    if input_fn is None:
        enable_line_editing()
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


def enable_line_editing() -> bool:
    """Arrow keys, history and Ctrl-A/E in `input()` on a real terminal.

    Importing `readline` is what turns them on for `input()` (without it the
    terminal echoes `^[[A` for an arrow key). Only on a terminal: elsewhere
    readline may write control sequences into piped output.

    Returns:
        True when line editing is on.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    try:
        import readline  # noqa: F401 - the import installs the line editor
    except ImportError:  # a Python built without it (some Windows builds)
        return False
    return True
