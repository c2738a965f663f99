"""`lepton-tf`: the command line over the package.

Each sub-command lives in `lepton_tf/commands/<name>.py` with a
`register(subparsers)` function; run `lepton-tf COMMAND --help` for its flags.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

import lepton_tf.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lepton-tf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(lepton_tf.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"lepton_tf.commands.{info.name}").register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # e.g. Beam pipeline options of `index --runner`
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"lepton-tf {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
