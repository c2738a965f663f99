"""Scoring predicted SGD dialogues against the reference, as SGD's ``evaluate.py`` does.

A port of ``schema_guided_dst/evaluate.py`` (google-research, Apache-2.0): every
frame of every user turn is scored (:mod:`dst_metrics`), and each metric is the
mean over frames of a collection: ``#ALL_SERVICES``, ``#SEEN_SERVICES`` (services
in the training schema), ``#UNSEEN_SERVICES``, each service, and each domain
(the service name before ``_``). Collections also carry ``frames``, the number
of frames scored (the official output leaves it out; we report it).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Set
from typing import Any

import numpy as np

from lepton_tf.dialogue.schema import Service
from lepton_tf.evaluation import dst_metrics as metrics

ALL_SERVICES = "#ALL_SERVICES"
SEEN_SERVICES = "#SEEN_SERVICES"
UNSEEN_SERVICES = "#UNSEEN_SERVICES"
FRAMES = "frames"

JOINT_METRICS = (metrics.JOINT_GOAL_ACCURACY, metrics.JOINT_CAT_ACCURACY, metrics.JOINT_NONCAT_ACCURACY)


def score_frame(frame_ref: Mapping, frame_hyp: Mapping, utterance: str, service: Service,
                use_fuzzy_match: bool = True) -> dict[str, float | str]:
    """All metrics of one predicted frame.

    Args:
        frame_ref: the reference frame (with ``state``).
        frame_hyp: the predicted frame (with ``state``; ``slots`` optional).
        utterance: the user utterance (slot spans index it).
        service: the frame's service.
        use_fuzzy_match: fuzzy matching of free-text values (SGD's default).

    Returns:
        metric name -> value (``NA`` where a metric does not apply).
    """
    requested = metrics.get_requested_slots_f1(frame_ref, frame_hyp)
    frame_metric: dict[str, float | str] = {
        metrics.ACTIVE_INTENT_ACCURACY: metrics.get_active_intent_accuracy(frame_ref, frame_hyp),
        metrics.REQUESTED_SLOTS_F1: requested.f1,
        metrics.REQUESTED_SLOTS_PRECISION: requested.precision,
        metrics.REQUESTED_SLOTS_RECALL: requested.recall,
    }
    tagging = metrics.get_slot_tagging_f1(frame_ref, frame_hyp, utterance, service)
    if tagging is not None:
        frame_metric[metrics.SLOT_TAGGING_F1] = tagging.f1
        frame_metric[metrics.SLOT_TAGGING_PRECISION] = tagging.precision
        frame_metric[metrics.SLOT_TAGGING_RECALL] = tagging.recall
    frame_metric.update(metrics.get_average_and_joint_goal_accuracy(frame_ref, frame_hyp, service, use_fuzzy_match))
    return frame_metric


def get_metrics(
    dataset_ref: Mapping[str, Mapping[str, Any]],
    dataset_hyp: Mapping[str, Mapping[str, Any]],
    service_schemas: Mapping[str, Service],
    in_domain_services: Set[str],
    use_fuzzy_match: bool = True,
    joint_acc_across_turn: bool = False,
) -> tuple[dict[str, dict[str, float | str]], dict[str, dict[str, float | str]]]:
    """Score predicted dialogues against the reference.

    Args:
        dataset_ref: dialogue id -> reference dialogue.
        dataset_hyp: dialogue id -> predicted dialogue (same turns and utterances).
        service_schemas: service name -> service (the evaluated split's schema).
        in_domain_services: the services seen in training.
        use_fuzzy_match: fuzzy matching of free-text values (SGD's default).
        joint_acc_across_turn: MultiWOZ-style joint accuracy over all services of a turn.

    Returns:
        ``(aggregate, per_frame)``: collection -> metric -> mean over its frames
        (plus ``frames``, the count), and ``<dialogue>-<turn>-<service>`` -> metrics.

    Raises:
        ValueError: when a predicted dialogue is not in the reference, its services,
            speakers or utterances differ, a reference frame has no predicted frame,
            or a frame names a service the schema lacks.
    """
    collections_ = collections.defaultdict(lambda: collections.defaultdict(list))
    frame_counts: collections.Counter = collections.Counter()
    unknown = sorted(set(dataset_hyp) - set(dataset_ref))
    if unknown:
        raise ValueError(f"{len(unknown)} predicted dialogues are not in the reference, e.g. {unknown[0]}")

    per_frame_metric: dict[str, dict[str, float | str]] = {}
    for dial_id, dial_hyp in dataset_hyp.items():
        dial_ref = dataset_ref[dial_id]
        if set(dial_ref["services"]) != set(dial_hyp["services"]):
            raise ValueError(f"dialogue {dial_id}: the predicted services {sorted(dial_hyp['services'])} "
                             f"are not the reference's {sorted(dial_ref['services'])}")
        if len(dial_ref["turns"]) != len(dial_hyp["turns"]):
            # The official scorer zips and would silently drop the tail.
            raise ValueError(f"dialogue {dial_id}: {len(dial_hyp['turns'])} predicted turns, "
                             f"{len(dial_ref['turns'])} in the reference")
        for turn_id, (turn_ref, turn_hyp) in enumerate(zip(dial_ref["turns"], dial_hyp["turns"])):
            per_turn = collections.defaultdict(lambda: collections.defaultdict(lambda: 1.0))
            if turn_ref["speaker"] != turn_hyp["speaker"]:
                raise ValueError(f"dialogue {dial_id} turn {turn_id}: speakers don't match")
            if turn_ref["speaker"] != "USER":
                continue
            if turn_ref["utterance"] != turn_hyp["utterance"]:
                raise ValueError(f"dialogue {dial_id} turn {turn_id}: utterances don't match")
            hyp_frames = {frame["service"]: frame for frame in turn_hyp["frames"]}
            for frame_ref in turn_ref["frames"]:
                service_name = frame_ref["service"]
                if service_name not in hyp_frames:
                    raise ValueError(f"dialogue {dial_id} turn {turn_id}: no predicted frame for {service_name}")
                if service_name not in service_schemas:
                    raise ValueError(f"dialogue {dial_id} turn {turn_id}: service {service_name!r} is not in the "
                                     f"schema (services: {', '.join(service_schemas)})")
                frame_metric = score_frame(frame_ref, hyp_frames[service_name], turn_ref["utterance"],
                                           service_schemas[service_name], use_fuzzy_match)
                per_frame_metric[f"{dial_id}-{turn_id:03d}-{service_name}"] = frame_metric
                keys = [ALL_SERVICES, service_name, service_name.split("_")[0],
                        SEEN_SERVICES if service_name in in_domain_services else UNSEEN_SERVICES]
                for key in keys:
                    frame_counts[key] += 1
                    for metric_key, value in frame_metric.items():
                        if value == metrics.NAN_VAL:
                            continue
                        if joint_acc_across_turn and metric_key in JOINT_METRICS:
                            per_turn[key][metric_key] *= value
                        else:
                            collections_[key][metric_key].append(value)
            if joint_acc_across_turn:
                for key, values in per_turn.items():
                    for metric_key, value in values.items():
                        collections_[key][metric_key].append(value)

    aggregate: dict[str, dict[str, float | str]] = {}
    for key, values in collections_.items():
        aggregate[key] = {m: float(np.mean(v)) if v else metrics.NAN_VAL for m, v in values.items()}
        aggregate[key][FRAMES] = frame_counts[key]
    return aggregate, per_frame_metric
