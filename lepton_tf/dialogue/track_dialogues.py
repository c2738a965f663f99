"""Running a tracker over recorded SGD dialogues, writing its predictions in SGD's layout."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lepton_tf.dialogue.schema import Service
from lepton_tf.dialogue.state import DialogueState, Tracker


def services_of(dialogue: Mapping[str, Any], schema: Mapping[str, Service]) -> dict[str, Service]:
    """The schema's services that a dialogue uses (its ``services`` and its frames).

    Raises:
        ValueError: naming the dialogue and the service when the schema lacks one.
    """
    names = list(dialogue["services"])
    for turn in dialogue["turns"]:
        names += [frame["service"] for frame in turn["frames"] if frame["service"] not in names]
    missing = [n for n in names if n not in schema]
    if missing:
        raise ValueError(f"dialogue {dialogue['dialogue_id']}: service {missing[0]!r} is not in the schema "
                         f"(services: {', '.join(schema)})")
    return {n: schema[n] for n in names}


def track_dialogue(tracker: Tracker, dialogue: Mapping[str, Any], schema: Mapping[str, Service]) -> dict[str, Any]:
    """Run ``tracker`` over one dialogue's turns.

    Only the utterances, and which services each user turn is about (its frames'
    services, as SGD's own baseline is given them), are shown to the tracker;
    the reference states are not.

    Args:
        tracker: the tracker.
        dialogue: a dialogue in SGD's layout.
        schema: service name -> service (must hold the dialogue's services).

    Returns:
        The dialogue with the same turns, each user turn carrying one predicted
        frame (``service`` and ``state``) per reference frame.

    Raises:
        ValueError: when the schema lacks one of the dialogue's services.
    """
    services = services_of(dialogue, schema)
    state = DialogueState()
    system_utterance = ""
    turns = []
    for turn in dialogue["turns"]:
        if turn["speaker"] == "SYSTEM":
            system_utterance = turn["utterance"]
            turns.append({"speaker": "SYSTEM", "utterance": turn["utterance"], "frames": []})
            continue
        in_play = {f["service"]: services[f["service"]] for f in turn["frames"]}
        state = tracker.update(state, system_utterance, turn["utterance"], in_play)
        frames = [{"service": f["service"], "state": state.service(f["service"]).to_json()} for f in turn["frames"]]
        turns.append({"speaker": "USER", "utterance": turn["utterance"], "frames": frames})
    return {"dialogue_id": dialogue["dialogue_id"], "services": list(dialogue["services"]), "turns": turns}


def track_dialogues(tracker: Tracker, dialogues: Iterable[Mapping[str, Any]],
                    schema: Mapping[str, Service]) -> dict[str, dict[str, Any]]:
    """Run ``tracker`` over dialogues; returns dialogue id -> predicted dialogue."""
    return {d["dialogue_id"]: track_dialogue(tracker, d, schema) for d in dialogues}
