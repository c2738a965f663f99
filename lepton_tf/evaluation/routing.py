"""`lepton-tf eval routing`: the assistant's routing thresholds, measured on data.

Hosts the `encoder` and `intent` of `--models` and the `search` servable of
`--index` in this process, scores StackFAQ test queries (search), SGD test
user turns (chat) and Banking77 test queries (out of scope) as the assistant
does, and calibrates the thresholds on one half of each set
(`assistant.calibration`), reporting the routes on the other half beside those
of the thresholds in use. `--write FILE` stores the thresholds in FILE's
profile for this kind of index (`assistant.routing_thresholds`), with this
command line and what it measured; `lepton-tf serve --assistant
--routing_thresholds FILE` routes with them. The package's
`routing_thresholds.json` is such a file.
"""

from __future__ import annotations

import os
import shlex
import tempfile

import numpy as np

from lepton_tf.evaluation import write_json

ROUTES = ("search", "chat", "out_of_scope")


def _host(models_dir: str, index_dir: str, workdir: str):
    """A started in-process server with `encoder`, `intent` (when exported) and `search`."""
    from lepton_tf.export import latest_version_path
    from lepton_tf.search.wiring import search_factory
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.server.config import write_models_config

    if not latest_version_path(models_dir, "encoder"):
        raise ValueError(f"{models_dir}: no exported encoder (<models>/encoder/<version>/); "
                         f"the routing scores are its cosines.")
    names = [n for n in ("encoder", "intent") if latest_version_path(models_dir, n)]
    config = write_models_config(models_dir, names, os.path.join(workdir, "models.config"))
    server = ModelServer(ServerOptions(model_config_file=config, port=0, rest_api_port=0,
                                       file_system_poll_wait_seconds=0),
                         python_servables={"search": search_factory(index_dir)})
    return server.start(), names


def measure(models_dir: str, index_dir: str, size: int = 400, seed: int = 0) -> dict:
    """Every text's routing signals (see `assistant.calibration.collect_signals`).

    Args:
        models_dir: the folder of exported servables (`encoder`, `intent`).
        index_dir: the search index the assistant answers from.
        size: texts per route.
        seed: the sample and half split's seed.

    Returns:
        `{route: calibration.Signals}`.

    Raises:
        ValueError: no encoder under `models_dir`.
    """
    from lepton_tf.assistant import calibration
    from lepton_tf.assistant.backends import ServerBackends

    with tempfile.TemporaryDirectory(prefix="eval_routing_") as workdir:
        server, _ = _host(models_dir, index_dir, workdir)
        try:
            sets = calibration.labelled_sets(size, seed)
            return calibration.collect_signals(ServerBackends(server.manager), sets)
        finally:
            server.stop()


def evaluate(signals: dict, in_use, known_questions: bool) -> dict:
    """Calibrated thresholds and the held-out routes, beside those of `in_use`.

    Args:
        signals: `measure`'s result.
        in_use: the `routing.Router` the assistant routes with now (its small-talk
            threshold is kept: these sets do not score it).
        known_questions: the index's documents carry known questions.

    Returns:
        `{"thresholds", "held_out_confusion", "held_out_mean_recall", "sizes",
        "in_use": {...}, ...}`.
    """
    from lepton_tf.assistant import calibration, routing_thresholds

    result = calibration.calibrate(signals, use_intent=True)
    router = result.pop("router")
    values = {k: getattr(router, k) for k in routing_thresholds.THRESHOLDS}
    values["chitchat_threshold"] = in_use.chitchat_threshold
    before = calibration.held_out(in_use, signals)
    return dict(result, thresholds=values, known_questions=known_questions,
                in_use=dict(before, thresholds={k: getattr(in_use, k)
                                                for k in routing_thresholds.THRESHOLDS}))


def command_line(args) -> str:
    """The `lepton-tf eval routing` line that reproduces this run."""
    parts = ["lepton-tf", "eval", "routing", "--models", args.models, "--index", args.index,
             "--size", str(args.size)]
    if args.seed:
        parts += ["--seed", str(args.seed)]
    if args.write:
        parts += ["--write", args.write]
    return shlex.join(parts)


def _models(models_dir: str, index_dir: str) -> dict:
    from lepton_tf.export import list_versions
    from lepton_tf.index.storage import read_manifest

    manifest = read_manifest(index_dir)
    return {"encoder": (list_versions(models_dir, "encoder") or [None])[-1],
            "intent": (list_versions(models_dir, "intent") or [None])[-1],
            "index": {"version": manifest.get("version"),
                      "encoder": manifest.get("encoder"),
                      "documents": manifest.get("count"),
                      "known_questions": manifest.get("questions", 0)}}


def run(args) -> int:
    from lepton_tf.assistant import routing_thresholds
    from lepton_tf.assistant.routing import default_router, index_has_known_questions

    known_questions = index_has_known_questions(args.index)
    in_use_file = args.write if args.write and os.path.exists(args.write) else None
    in_use = default_router(known_questions, in_use_file)  # a bad file fails before the work
    signals = measure(args.models, args.index, args.size, args.seed)
    result = evaluate(signals, in_use, known_questions)
    profile = routing_thresholds.KNOWN_QUESTIONS if known_questions else routing_thresholds.PLAIN
    print(f"routing thresholds for an index {'with' if known_questions else 'without'} known "
          f"questions ({args.index}), fit on half of {result['sizes']} texts per route:")
    print(", ".join(f"{k} {v:.3f} (in use {result['in_use']['thresholds'][k]:.3f})"
                    for k, v in result["thresholds"].items()))
    print("\n| true \\ routed (held-out half) | " + " | ".join(ROUTES) + " | in use: "
          + " / ".join(ROUTES) + " |\n| --- |" + " --- |" * (len(ROUTES) + 1))
    for route, row in result["held_out_confusion"].items():
        old = result["in_use"]["held_out_confusion"][route]
        print(f"| {route} | " + " | ".join(f"{row[r]:.3f}" for r in ROUTES) + " | "
              + " / ".join(f"{old[r]:.3f}" for r in ROUTES) + " |")
    print(f"\nheld-out mean recall {result['held_out_mean_recall']:.3f} (in use "
          f"{result['in_use']['held_out_mean_recall']:.3f})")
    for route, s in signals.items():
        print(f"{route}: search score p5/p50/p95 "
              + "/".join(f"{np.percentile(s.search, q):.3f}" for q in (5, 50, 95))
              + ", dialogue score " + "/".join(f"{np.percentile(s.dialogue, q):.3f}"
                                               for q in (5, 50, 95)))
    if args.write:
        measured = {key: result[key] for key in (
            "held_out_confusion", "held_out_mean_recall", "sizes",
            "search_balanced_accuracy_fit", "dialogue_balanced_accuracy_fit",
            "service_balanced_accuracy_fit", "margin_balanced_accuracy_fit")}
        measured["models"] = _models(args.models, args.index)
        routing_thresholds.write(args.write, profile, result["thresholds"], command_line(args),
                                 measured)
        print(f"wrote the {profile!r} profile of {args.write}")
    write_json(result, args.json)
    return 0


def register(sub) -> None:
    p = sub.add_parser("routing", help="measure the assistant's routing thresholds (search / "
                                       "chat / out of scope) and write its thresholds file")
    p.add_argument("--models", default="saved_models",
                   help="exported servables: encoder (required) and intent")
    p.add_argument("--index", default=os.path.join("indexes", "stackfaq"),
                   help="the search index the assistant answers from")
    p.add_argument("--size", type=int, default=400, help="texts per route (half fit, half "
                                                         "held out)")
    p.add_argument("--seed", type=int, default=0, help="the samples' and halves' seed")
    p.add_argument("--write", metavar="FILE",
                   help="store the thresholds in this file's profile for this kind of index "
                        "(made from the shipped file if missing); `serve --assistant "
                        "--routing_thresholds FILE` reads it")
    p.add_argument("--json", help="also write the whole result here")
    p.set_defaults(fn=run)
