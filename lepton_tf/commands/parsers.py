"""The parser of a command whose `--help` shows its module docstring as written.

A command's docstring holds its usage lines; argparse would re-flow them, so
every such command is added here with the raw formatter.
"""

from __future__ import annotations

import argparse


def add_documented(sub, name: str, help: str, doc: str, **kwargs) -> argparse.ArgumentParser:
    """Adds command `name`, its `--help` opening with `doc` (line breaks kept).

    Args:
        sub: the `lepton-tf` sub-parsers.
        name: the command.
        help: its one line in `lepton-tf --help`.
        doc: its module docstring.
        **kwargs: more `add_parser` options (`allow_abbrev`, ...).

    Returns:
        The command's parser.
    """
    return sub.add_parser(name, help=help, description=doc,
                          formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def add_with_actions(sub, name: str, help: str, doc: str):
    """Adds command `name` (as `add_documented`) whose first argument is an
    action (`lepton-tf learn export`); returns the actions' sub-parsers."""
    return add_documented(sub, name, help, doc).add_subparsers(dest="action", required=True)
