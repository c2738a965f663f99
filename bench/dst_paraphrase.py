"""An SGD folder with its schema reworded: new service descriptions, intent and slot names
and descriptions, the dialogues' annotations renamed to match.

    python bench/dst_paraphrase.py --data ../shared/data/sgd/full/test \
        --paraphrases bench/data/sgd_test_schema_paraphrases.json --out /tmp/sgd_test_paraphrased

Then score a tracker on both wordings with `lepton-tf eval dst --data ...`. The rewording
(`bench/data/sgd_test_schema_paraphrases.json`) was written by hand from the test schema's
own texts, without looking at any tracker's output; service names and categorical values
are kept (values are what the user says, and the scorer compares them).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import bench_cli


def _read(path: Path):
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def reword_schema(schema: list[dict], paraphrases: dict) -> list[dict]:
    """The schema with every service's description and intent/slot names and descriptions reworded.

    Raises:
        KeyError: naming a service, intent or slot the paraphrases lack.
    """
    out = []
    for service in schema:
        p = paraphrases[service["service_name"]]
        slot_name = {old: new for old, (new, _) in p["slots"].items()}
        intents = []
        for intent in service["intents"]:
            name, description = p["intents"][intent["name"]]
            intents.append({**intent, "name": name, "description": description,
                            "required_slots": [slot_name[s] for s in intent["required_slots"]],
                            "optional_slots": {slot_name[s]: v for s, v in intent["optional_slots"].items()},
                            "result_slots": [slot_name[s] for s in intent.get("result_slots", [])]})
        slots = [{**slot, "name": p["slots"][slot["name"]][0], "description": p["slots"][slot["name"]][1]}
                 for slot in service["slots"]]
        out.append({**service, "description": p["description"], "intents": intents, "slots": slots})
    return out


def rename_frame(frame: dict, paraphrases: dict) -> dict:
    """One turn frame with its slot and intent names replaced (values kept)."""
    p = paraphrases[frame["service"]]
    slot = {old: new for old, (new, _) in p["slots"].items()}
    intent = {old: new for old, (new, _) in p["intents"].items()}
    frame = dict(frame)
    frame["slots"] = [{**s, "slot": slot[s["slot"]]} for s in frame.get("slots", [])]
    actions = []
    for action in frame.get("actions", []):
        values = action.get("values", [])
        if action.get("slot") == "intent":
            values = [intent.get(v, v) for v in values]
        actions.append({**action, "slot": slot.get(action.get("slot", ""), action.get("slot", "")),
                        "values": values})
    frame["actions"] = actions
    if "state" in frame:
        state = frame["state"]
        frame["state"] = {**state, "active_intent": intent.get(state["active_intent"], state["active_intent"]),
                          "requested_slots": [slot[s] for s in state["requested_slots"]],
                          "slot_values": {slot[s]: v for s, v in state["slot_values"].items()}}
    if "service_call" in frame:
        call = frame["service_call"]
        frame["service_call"] = {"method": intent[call["method"]],
                                 "parameters": {slot[s]: v for s, v in call["parameters"].items()}}
    if "service_results" in frame:
        frame["service_results"] = [{slot.get(k, k): v for k, v in r.items()} for r in frame["service_results"]]
    return frame


def main() -> None:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--data", required=True, help="SGD-layout folder (schema.json[.gz], dialogues_*.json[.gz])")
    parser.add_argument("--paraphrases", default="bench/data/sgd_test_schema_paraphrases.json")
    parser.add_argument("--out", required=True, help="folder to write")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.out)
    paraphrases = json.loads(Path(args.paraphrases).read_text())
    out.mkdir(parents=True, exist_ok=True)
    schema_file = next(p for p in (data / "schema.json", data / "schema.json.gz") if p.exists())
    (out / "schema.json").write_text(json.dumps(reword_schema(_read(schema_file), paraphrases), indent=1))
    count = 0
    for path in sorted(data.glob("dialogues_*.json*")):
        dialogues = _read(path)
        for dialogue in dialogues:
            for turn in dialogue["turns"]:
                turn["frames"] = [rename_frame(f, paraphrases) for f in turn["frames"]]
        (out / path.name.replace(".gz", "")).write_text(json.dumps(dialogues))
        count += len(dialogues)
    print(f"{out}: reworded schema of {len(paraphrases)} services, {count} dialogues renamed")


if __name__ == "__main__":
    main()
