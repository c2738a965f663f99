"""`lepton-tf`: the command line over the package.

Each sub-command lives in `lepton_tf/commands/<name>.py` with a
`register(subparsers)` function; run `lepton-tf COMMAND --help` for its flags.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import lepton_tf.commands
from lepton_tf.quiet_logs import quiet_tensorflow


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser.

    Args:
        command: the sub-command about to run, when known: the others that
            offer `register_summary` (a one-line entry, for commands whose
            parsers import heavy modules) are registered by it, so parsing
            stays instant. None: every parser in full.

    Returns:
        the parser.
    """
    parser = argparse.ArgumentParser(prog="lepton-tf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log at INFO level and show TensorFlow's C++ log lines (hidden "
                             "by default unless TF_CPP_MIN_LOG_LEVEL is set)")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(lepton_tf.commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"lepton_tf.commands.{info.name}")
        if not hasattr(module, "register"):  # a helper shared by commands
            continue
        if command is not None and command != info.name and hasattr(module, "register_summary"):
            module.register_summary(sub)
        else:
            module.register(sub)
    return parser


def _command_in(argv: list[str]) -> str:
    """The sub-command `argv` names ("" for none, e.g. `lepton-tf --help`)."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Before anything imports TensorFlow (which reads TF_CPP_MIN_LOG_LEVEL once).
    quiet_tensorflow(verbose=bool({"-v", "--verbose"} & set(argv)))
    parser = build_parser(command=_command_in(argv))
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # e.g. Beam pipeline options of `index --runner`
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (ValueError, OSError, ImportError) as e:
        # A user's error (a wrong path, a bad config, a missing optional
        # package): one line that says what to do; -v shows the traceback.
        if args.verbose:
            raise
        print(f"lepton-tf {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    """The error's message on one line (TensorFlow's carry their own newlines)."""
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
