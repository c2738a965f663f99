"""`lepton-tf eval dst`: dialogue state tracking scored by SGD's own metrics.

Reads a folder in SGD's layout (``schema.json`` and ``dialogues_*.json[.gz]``),
runs the string-matching baseline (and the ``dst`` model when given) over its
dialogues, scores every system, and prints them side by side: joint goal
accuracy, average goal accuracy, active intent accuracy and requested-slot F1
for all, seen and unseen services and each service, with the frames counted.
``--predictions DIR`` scores another system's predictions (SGD layout, as the
official scorer takes them). ``--json`` prints ``{system: {collection: metrics}}``
where each system's value has the official output's layout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lepton_tf.data.paths import data_file
from lepton_tf.data.sgd_full import dialogue_paths, load_dialogues, schema_path
from lepton_tf.dialogue.schema import Schema, load_schema
from lepton_tf.dialogue.state import Tracker
from lepton_tf.dialogue.string_match_tracker import StringMatchTracker
from lepton_tf.dialogue.track_dialogues import track_dialogues
from lepton_tf.evaluation import dst_metrics as metrics
from lepton_tf.evaluation.dst_scoring import ALL_SERVICES, FRAMES, SEEN_SERVICES, UNSEEN_SERVICES, get_metrics

BASELINE = "string_match"
MODEL = "dst_model"
# Hybrids: the model's intents and requested slots; slot values from the first of
# the listed trackers to change a slot in a turn.
HYBRIDS = {"model-first": (MODEL, BASELINE), "string-match-first": (BASELINE, MODEL)}
HEADLINE = (metrics.JOINT_GOAL_ACCURACY, metrics.AVERAGE_GOAL_ACCURACY, metrics.ACTIVE_INTENT_ACCURACY,
            metrics.REQUESTED_SLOTS_F1)
_SHORT = {metrics.JOINT_GOAL_ACCURACY: "JGA", metrics.AVERAGE_GOAL_ACCURACY: "AGA",
          metrics.ACTIVE_INTENT_ACCURACY: "intent", metrics.REQUESTED_SLOTS_F1: "req-F1"}


def default_train_schema() -> Path:
    """The SGD training schema shipped with the package (decides seen vs unseen)."""
    return data_file("sgd", "schema_train.json.gz")


def evaluate_dst(data_dir: str | os.PathLike, trackers: dict[str, Tracker], train_schema: str | os.PathLike,
                 predictions: list[str] | None = None, limit: int | None = None,
                 write_predictions: str | os.PathLike | None = None, every: int = 1) -> dict[str, dict]:
    """Score trackers (and prediction folders) on an SGD-layout folder.

    Args:
        data_dir: the folder with ``schema.json`` and ``dialogues_*.json[.gz]``.
        trackers: system name -> tracker to run over the dialogues.
        train_schema: the training schema; its services count as seen.
        predictions: folders of predicted dialogues to score as well (named by folder).
        limit: score only the first N dialogues (in file order, after ``every``).
        every: score every Nth dialogue only (a subset spread over all files).
        write_predictions: folder to write each tracker's predictions to
            (``<folder>/<system>/dialogues_001.json``), for the official scorer.

    Returns:
        system -> ``{collection: {metric: value}}`` (the official layout, plus ``frames``).

    Raises:
        SchemaError: a malformed schema. DataFormatError: a malformed dialogue file.
        ValueError: a dialogue names a service the schema lacks; predictions that
            do not match the reference.
    """
    schema: Schema = load_schema(schema_path(data_dir))
    seen = set(load_schema(train_schema))
    reference = load_dialogues(dialogue_paths(data_dir))
    if every < 1:
        raise ValueError(f"--every must be at least 1, got {every}")
    reference = dict(list(reference.items())[::every])
    if limit is not None:
        reference = dict(list(reference.items())[:limit])
    results: dict[str, dict] = {}
    for name, tracker in trackers.items():
        hypothesis = track_dialogues(tracker, reference.values(), schema)
        if write_predictions is not None:
            out = Path(write_predictions) / name
            out.mkdir(parents=True, exist_ok=True)
            (out / "dialogues_001.json").write_text(json.dumps(list(hypothesis.values()), indent=1))
        results[name] = get_metrics(reference, hypothesis, schema, seen)[0]
    for folder in predictions or []:
        hypothesis = load_dialogues(dialogue_paths(folder, "*.json"))
        if limit is not None or every > 1:
            hypothesis = {k: v for k, v in hypothesis.items() if k in reference}
        results[f"predictions:{folder}"] = get_metrics(reference, hypothesis, schema, seen)[0]
    return results


def format_table(results: dict[str, dict]) -> str:
    """Systems side by side: one row per collection, four metrics per system, frames counted."""
    systems = list(results)
    collections_ = [ALL_SERVICES, SEEN_SERVICES, UNSEEN_SERVICES]
    first = results[systems[0]]
    collections_ = [c for c in collections_ if c in first]
    collections_ += sorted(c for c in first if not c.startswith("#") and "_" in c)
    width = max(len(c) for c in collections_) + 2
    header = "".ljust(width) + "frames".rjust(8)
    for system in systems:
        label = system if len(system) <= 30 else "…" + system[-29:]
        header += "  | " + label.ljust(30)
    sub = "".ljust(width + 8) + ("  | " + "".join(_SHORT[m].rjust(7) for m in HEADLINE).ljust(30)) * len(systems)
    lines = [header, sub]
    for collection in collections_:
        row = collection.ljust(width) + str(first[collection][FRAMES]).rjust(8)
        for system in systems:
            values = results[system].get(collection, {})
            cells = "".join(_cell(values.get(m)).rjust(7) for m in HEADLINE)
            row += "  | " + cells.ljust(30)
        lines.append(row)
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value is None or value == metrics.NAN_VAL else f"{value:.3f}"


def run(args) -> int:
    trackers: dict[str, Tracker] = {BASELINE: StringMatchTracker()}
    if args.model:
        from lepton_tf.dialogue.model_tracker import ModelTracker
        from lepton_tf.export.model_path import resolve_version_path

        from lepton_tf.dialogue.dst_decoding import DECODINGS, TUNED

        path = resolve_version_path(args.model, "`lepton-tf train dst --export`")
        # The hybrids and the other decodings reuse the model's outputs of each turn.
        shared = bool(args.hybrid or args.decoding)
        trackers[MODEL] = ModelTracker.from_saved_model(path, remember_turns=1_000_000 if shared else 0,
                                                        decoding=TUNED)
        for name in args.decoding:
            if DECODINGS[name] is not TUNED:
                trackers[f"{MODEL}_{name}"] = trackers[MODEL].with_decoding(DECODINGS[name])
        from lepton_tf.dialogue.hybrid_tracker import HybridTracker

        for order in args.hybrid:
            trackers[f"hybrid_{order}"] = HybridTracker(trackers[MODEL], [trackers[n] for n in HYBRIDS[order]])
    elif args.hybrid or args.decoding:
        raise ValueError("--hybrid and --decoding need --model")
    results = evaluate_dst(args.data, trackers, args.train_schema or default_train_schema(),
                           args.predictions, args.limit, args.write_predictions, args.every)
    print(json.dumps(results, indent=2, sort_keys=True) if args.json else format_table(results))
    return 0


def register(sub) -> None:
    p = sub.add_parser("dst", help="dialogue state tracking on SGD-format data, scored by SGD's metrics")
    p.add_argument("--data", required=True, help="folder with schema.json and dialogues_*.json[.gz]")
    p.add_argument("--train-schema", help="training schema.json[.gz]: its services count as seen "
                                          "(default: the shipped SGD train schema)")
    p.add_argument("--predictions", nargs="*", default=[],
                   help="folders of predicted dialogues (SGD layout, *.json[.gz]) to score as well")
    p.add_argument("--model", help="a dst SavedModel (version folder, or base folder for its latest) "
                                   "to score beside the baseline")
    p.add_argument("--hybrid", action="append", choices=sorted(HYBRIDS), default=[],
                   help="also score a hybrid: the model's intents and requested slots, slot values "
                        "from the model and the baseline, the first named winning (repeatable)")
    p.add_argument("--decoding", action="append", choices=("argmax", "tuned"), default=[],
                   help="also score the model with this decoding of its outputs (repeatable; "
                        "dst_model itself uses the tracker's default, tuned): argmax takes the "
                        "most probable intent, status and requested slots, as the servable does")
    p.add_argument("--limit", type=int, help="first N dialogues only")
    p.add_argument("--every", type=int, default=1, help="every Nth dialogue only (default 1: all)")
    p.add_argument("--write-predictions", help="write each tracker's predictions under this folder")
    p.add_argument("--json", action="store_true", help="print JSON (official layout per system)")
    p.set_defaults(fn=run)
