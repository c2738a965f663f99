"""`lepton-tf eval WHAT`: evaluations, one module each in `lepton_tf/evaluation`.

An evaluation module defines `register(subparsers)`; its parser sets `fn`.
Those modules import NumPy, metrics and index code, so another command's
parser (and `lepton-tf --help`) uses `register_summary`: `eval` with its
help text only, without importing them.
"""

import importlib
import pkgutil

HELP = "evaluate a model (chat, search, intent, grounded, not-found)"


def register_summary(sub) -> None:
    """`eval` as one line of `lepton-tf --help`, without its sub-commands' parsers."""
    sub.add_parser("eval", help=HELP)


def register(sub) -> None:
    import lepton_tf.evaluation

    p = sub.add_parser("eval", help=HELP)
    what = p.add_subparsers(dest="what", required=True)
    for info in sorted(pkgutil.iter_modules(lepton_tf.evaluation.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"lepton_tf.evaluation.{info.name}")
        if hasattr(module, "register"):
            module.register(what)
