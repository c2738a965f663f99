"""The learned tracker's decoding of the servable's outputs (`dialogue.dst_decoding`), on the
shipped SGD schemas: what the dev-chosen rules change against taking the most probable of
everything, and where carried-over values come from."""

from pathlib import Path

import numpy as np

from lepton_tf.dialogue import DialogueState, ServiceState, load_schema
from lepton_tf.dialogue.dst_decoding import ARGMAX, TUNED, Decoding
from lepton_tf.dialogue.model_tracker import ModelTracker
from lepton_tf.models.dst.dst_heads import STATUS_ACTIVE, STATUS_CARRYOVER, STATUS_NONE

SCHEMA = load_schema(Path(__file__).resolve().parents[1] / "data" / "sgd" / "dst_sample" / "schema.json.gz")
RESTAURANTS, RIDES = SCHEMA["Restaurants_2"], SCHEMA["RideSharing_2"]


def _outputs(service, intent_probabilities, status=None, value=None, status_probabilities=None):
    """One row of the servable's outputs for `service` (slot name -> status / value)."""
    names = service.slot_names
    probabilities = np.zeros((1, len(names), 4), np.float32)
    probabilities[0, :, STATUS_NONE] = 1.0
    for slot, p in (status_probabilities or {}).items():
        probabilities[0, names.index(slot)] = p
    return {
        "active_intent": np.array([int(np.argmax(intent_probabilities)) - 1]),
        "intent_probabilities": np.array([intent_probabilities], np.float32),
        "slot_status": np.array([[(status or {}).get(n, STATUS_NONE) for n in names]]),
        "status_probabilities": probabilities,
        "requested_probabilities": np.zeros((1, len(names)), np.float32),
        "slot_value": np.array([[(value or {}).get(n, "").encode() for n in names]], dtype=object),
    }


def _update(decoding, state, service, out):
    tracker = ModelTracker(lambda inputs: out, decoding=decoding)
    return tracker.update(state, "", "x", {service.name: service}).service(service.name)


def test_the_active_intent_switches_only_on_a_clear_margin():
    reserving = DialogueState().with_service("Restaurants_2", ServiceState("ReserveRestaurant", (), {}))
    unsure = _outputs(RESTAURANTS, [0.05, 0.3, 0.65])  # none, ReserveRestaurant, FindRestaurants
    assert _update(ARGMAX, reserving, RESTAURANTS, unsure).active_intent == "FindRestaurants"
    assert _update(TUNED, reserving, RESTAURANTS, unsure).active_intent == "ReserveRestaurant"
    clear = _outputs(RESTAURANTS, [0.02, 0.08, 0.9])
    assert _update(TUNED, reserving, RESTAURANTS, clear).active_intent == "FindRestaurants"
    # A service with no intent yet takes the most probable one.
    assert _update(TUNED, DialogueState(), RESTAURANTS, unsure).active_intent == "FindRestaurants"


def test_result_only_slots_get_no_value():
    # "phone_number" is a result of the restaurant intents, never an argument.
    out = _outputs(RESTAURANTS, [0.1, 0.8, 0.1], status={"phone_number": STATUS_ACTIVE, "location": STATUS_ACTIVE},
                   value={"phone_number": "408-555-0100", "location": "San Jose"})
    assert _update(ARGMAX, DialogueState(), RESTAURANTS, out).slot_values == {
        "phone_number": ("408-555-0100",), "location": ("San Jose",)}
    assert _update(TUNED, DialogueState(), RESTAURANTS, out).slot_values == {"location": ("San Jose",)}


def test_a_new_service_carries_a_likely_value_over_and_later_turns_do_not():
    booked = DialogueState().with_service("Restaurants_2", ServiceState("ReserveRestaurant", (), {
        "location": ("San Jose",), "restaurant_name": ("Sino",)}))
    # "none" is the most probable, but a carried value is likely: on the ride's first turn it is taken.
    out = _outputs(RIDES, [0.1, 0.9], status_probabilities={"destination": [0.6, 0.0, 0.0, 0.4]})
    assert _update(ARGMAX, booked, RIDES, out).slot_values == {}
    assert _update(TUNED, booked, RIDES, out).slot_values == {"destination": ("San Jose",)}
    riding = booked.with_service("RideSharing_2", ServiceState("GetRide", (), {}))
    assert _update(TUNED, riding, RIDES, out).slot_values == {}


def test_a_carried_value_comes_from_the_closest_description():
    booked = DialogueState().with_service("Restaurants_2", ServiceState("ReserveRestaurant", (), {
        "location": ("San Jose",), "restaurant_name": ("Sino",)}))
    out = _outputs(RIDES, [0.1, 0.9], status={"destination": STATUS_CARRYOVER})
    destination = RIDES.slots[RIDES.slot_names.index("destination")].description
    location, name = (RESTAURANTS.slots[RESTAURANTS.slot_names.index(s)].description
                      for s in ("location", "restaurant_name"))
    # Without vectors, words: "Destination address or location for cab" shares "location".
    assert _update(TUNED, booked, RIDES, out).slot_values == {"destination": ("San Jose",)}
    # With them, the most similar description wins.
    near_name = {destination: [1.0, 0.0], location: [0.6, 0.8], name: [0.9, 0.1]}
    near_location = {destination: [1.0, 0.0], location: [0.9, 0.1], name: [0.6, 0.8]}
    for vectors, expected in ((near_name, "Sino"), (near_location, "San Jose")):
        tracker = ModelTracker(lambda inputs: out, decoding=TUNED)
        tracker._vectors._vectors.update({t.encode(): np.asarray(v, np.float32) for t, v in vectors.items()})
        tracker._services["Restaurants_2"] = RESTAURANTS  # seen on an earlier turn
        state = tracker.update(booked, "", "x", {"RideSharing_2": RIDES}).service("RideSharing_2")
        assert state.slot_values == {"destination": (expected,)}


def test_decodings_are_plain_settings():
    assert ARGMAX == Decoding() and TUNED != ARGMAX
