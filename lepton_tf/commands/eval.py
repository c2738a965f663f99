"""`lepton-tf eval WHAT`: evaluations, one module each in `lepton_tf/evaluation`.

An evaluation module defines `register(subparsers)`; its parser sets `fn`.
"""

import importlib
import pkgutil


def register(sub) -> None:
    import lepton_tf.evaluation

    p = sub.add_parser("eval", help="evaluate a model (chat, search, intent)")
    what = p.add_subparsers(dest="what", required=True)
    for info in sorted(pkgutil.iter_modules(lepton_tf.evaluation.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"lepton_tf.evaluation.{info.name}")
        if hasattr(module, "register"):
            module.register(what)
