"""SGD's DST metrics: the official scorer's own test frame, hand-computed frames, and the
aggregation over frames, services, seen and unseen services."""

import json

import pytest

from lepton_tf.dialogue import parse_schema
from lepton_tf.evaluation import dst_metrics as m
from lepton_tf.evaluation.dst_scoring import get_metrics

# The frame pair and schema of the official scorer's metrics_test (google-research
# schema_guided_dst/test_data), with the values its authors computed.
RESTAURANTS_1 = parse_schema([{
    "service_name": "Restaurants_1",
    "description": "A leading provider for restaurant search and reservations",
    "slots": [
        {"name": "restaurant_name", "description": "Name of the restaurant", "is_categorical": False, "possible_values": []},
        {"name": "date", "description": "Date for the reservation", "is_categorical": False, "possible_values": []},
        {"name": "time", "description": "Time for the reservation", "is_categorical": False, "possible_values": []},
        {"name": "serves_alcohol", "description": "Serves alcohol", "is_categorical": True, "possible_values": ["True", "False"]},
        {"name": "has_live_music", "description": "Has live music", "is_categorical": True, "possible_values": ["True", "False"]},
        {"name": "phone_number", "description": "Phone number", "is_categorical": False, "possible_values": []},
        {"name": "street_address", "description": "Address", "is_categorical": False, "possible_values": []},
        {"name": "party_size", "description": "Party size", "is_categorical": True, "possible_values": ["1", "2", "3", "4", "5", "6"]},
        {"name": "price_range", "description": "Price range", "is_categorical": True,
         "possible_values": ["inexpensive", "moderate", "expensive", "very expensive"]},
        {"name": "city", "description": "City", "is_categorical": False, "possible_values": []},
        {"name": "cuisine", "description": "Cuisine", "is_categorical": False,
         "possible_values": ["Mexican", "Chinese", "Indian", "American", "Italian"]},
    ],
    "intents": [
        {"name": "ReserveRestaurant", "description": "Reserve a table", "is_transactional": True,
         "required_slots": ["restaurant_name", "city", "time"], "optional_slots": {"date": "2019-03-01", "party_size": "2"}},
        {"name": "FindRestaurants", "description": "Find a restaurant", "is_transactional": False,
         "required_slots": ["cuisine", "city"], "optional_slots": {"price_range": "dontcare"}},
    ],
}])["Restaurants_1"]
UTTERANCE = ("I want to have a meal in Palo Alto at this restaurant called Bird Dog. "
             "Can you also get me their contact number?")
FRAME_REF = {
    "service": "Restaurants_1",
    "state": {"requested_slots": ["phone_number"], "active_intent": "ReserveRestaurant",
              "slot_values": {"city": ["Palo Alto"], "price_range": ["moderate"],
                              "restaurant_name": ["Bird Dog"], "cuisine": ["American"]}},
    "slots": [{"start": 25, "exclusive_end": 34, "slot": "city"},
              {"start": 61, "exclusive_end": 69, "slot": "restaurant_name"}],
}
FRAME_HYP = {
    "service": "Restaurants_1",
    "state": {"requested_slots": ["phone_number", "street_address"], "active_intent": "SearchRestaurant",
              "slot_values": {"city": ["Palo Alto"], "restaurant_name": ["Bird"], "cuisine": ["American"]}},
    "slots": [{"start": 25, "exclusive_end": 34, "slot": "city"},
              {"start": 61, "exclusive_end": 65, "slot": "restaurant_name"}],
}
GOAL_METRICS = [m.AVERAGE_GOAL_ACCURACY, m.AVERAGE_CAT_ACCURACY, m.AVERAGE_NONCAT_ACCURACY,
                m.JOINT_GOAL_ACCURACY, m.JOINT_CAT_ACCURACY, m.JOINT_NONCAT_ACCURACY]


def test_official_frame_oracle_scores_one():
    assert m.get_active_intent_accuracy(FRAME_REF, FRAME_REF) == 1.0
    assert m.get_slot_tagging_f1(FRAME_REF, FRAME_REF, UTTERANCE, RESTAURANTS_1) == (1.0, 1.0, 1.0)
    assert m.get_requested_slots_f1(FRAME_REF, FRAME_REF) == (1.0, 1.0, 1.0)
    goal = m.get_average_and_joint_goal_accuracy(FRAME_REF, FRAME_REF, RESTAURANTS_1)
    assert goal == {k: 1.0 for k in GOAL_METRICS}


def test_official_frame_known_prediction_fuzzy():
    assert m.get_active_intent_accuracy(FRAME_REF, FRAME_HYP) == 0.0
    assert m.get_slot_tagging_f1(FRAME_REF, FRAME_HYP, UTTERANCE, RESTAURANTS_1) == pytest.approx((0.5, 0.5, 0.5))
    assert m.get_requested_slots_f1(FRAME_REF, FRAME_HYP) == pytest.approx((2 / 3, 0.5, 1.0))
    goal = m.get_average_and_joint_goal_accuracy(FRAME_REF, FRAME_HYP, RESTAURANTS_1)
    # "Bird" vs "Bird Dog": token sort ratio 67 -> 0.67 (fuzzywuzzy rounds to whole percents).
    expected = {m.JOINT_GOAL_ACCURACY: 0.0, m.JOINT_CAT_ACCURACY: 0.0, m.JOINT_NONCAT_ACCURACY: 0.67,
                m.AVERAGE_GOAL_ACCURACY: 0.6675, m.AVERAGE_CAT_ACCURACY: 0.0, m.AVERAGE_NONCAT_ACCURACY: 0.89}
    assert goal == pytest.approx(expected, abs=1e-4)


def test_official_frame_known_prediction_exact():
    goal = m.get_average_and_joint_goal_accuracy(FRAME_REF, FRAME_HYP, RESTAURANTS_1, use_fuzzy_match=False)
    expected = {m.JOINT_GOAL_ACCURACY: 0.0, m.JOINT_CAT_ACCURACY: 0.0, m.JOINT_NONCAT_ACCURACY: 0.0,
                m.AVERAGE_GOAL_ACCURACY: 0.5, m.AVERAGE_CAT_ACCURACY: 0.0, m.AVERAGE_NONCAT_ACCURACY: 2 / 3}
    assert goal == pytest.approx(expected)


@pytest.mark.parametrize("ref, hyp, score", [
    ("Bird Dog", "dog bird", 1.0),  # token order and case do not matter
    ("7:30 pm", "7 30 PM", 1.0),  # punctuation becomes space
    ("San Jose", "San Jose!", 1.0),
    ("", "", 1.0),
    ("Palo Alto", "", 0.0),
    ("café", "caf", 1.0),  # fuzzywuzzy's force_ascii drops the Latin-1 upper half
])
def test_fuzzy_string_match_follows_fuzzywuzzy(ref, hyp, score):
    assert m.fuzzy_string_match(ref, hyp) == score


def test_compute_f1_conventions():
    assert m.compute_f1([], []) == (1.0, 1.0, 1.0)
    assert m.compute_f1(["a"], []) == (0.0, 1.0, 0.0)
    assert m.compute_f1([], ["a"]) == (0.0, 0.0, 1.0)


def _dialogue(dialogue_id, service, states, utterances=None):
    turns = []
    for i, state in enumerate(states):
        turns.append({"speaker": "USER", "utterance": (utterances or {}).get(i, f"u{i}"),
                      "frames": [{"service": service, "state": state}]})
        turns.append({"speaker": "SYSTEM", "utterance": f"s{i}", "frames": []})
    return {"dialogue_id": dialogue_id, "services": [service], "turns": turns}


def _state(intent="ReserveRestaurant", requested=(), **values):
    return {"active_intent": intent, "requested_slots": list(requested),
            "slot_values": {k: [v] if isinstance(v, str) else v for k, v in values.items()}}


def test_aggregate_is_mean_over_frames_by_collection():
    # Hand-computed: 3 frames of a seen service, 1 of an unseen one.
    schema = parse_schema([
        {"service_name": "Restaurants_1", "description": "d", "slots": [
            {"name": "city", "description": "c", "is_categorical": False},
            {"name": "party_size", "description": "p", "is_categorical": True, "possible_values": ["1", "2"]}],
         "intents": [{"name": "ReserveRestaurant", "description": "r", "is_transactional": True}]},
        {"service_name": "Alarm_1", "description": "d", "slots": [
            {"name": "alarm_time", "description": "t", "is_categorical": False}],
         "intents": [{"name": "AddAlarm", "description": "a", "is_transactional": True}]},
    ])
    ref = {
        "r1": _dialogue("r1", "Restaurants_1", [
            _state(city="San Jose"),                       # hyp right: JGA 1
            _state(city="San Jose", party_size="2"),       # hyp misses party_size: JGA 0, AGA 0.5
            _state(requested=["phone"], city="San Jose", party_size="2")]),  # right values, wrong request
        "a1": _dialogue("a1", "Alarm_1", [_state("AddAlarm", alarm_time="7 am")]),
    }
    hyp = {
        "r1": _dialogue("r1", "Restaurants_1", [
            _state(city="san jose"), _state(city="San Jose"), _state(city="San Jose", party_size="2")]),
        "a1": _dialogue("a1", "Alarm_1", [_state("NONE", alarm_time="7 pm")]),  # ratio("7 am","7 pm") = 75
    }
    agg, per_frame = get_metrics(ref, hyp, schema, in_domain_services={"Restaurants_1"})
    assert set(per_frame) == {"r1-000-Restaurants_1", "r1-002-Restaurants_1", "r1-004-Restaurants_1",
                              "a1-000-Alarm_1"}
    seen, unseen, everything = agg["#SEEN_SERVICES"], agg["#UNSEEN_SERVICES"], agg["#ALL_SERVICES"]
    assert seen["frames"] == 3 and unseen["frames"] == 1 and everything["frames"] == 4
    assert seen[m.JOINT_GOAL_ACCURACY] == pytest.approx(2 / 3)
    assert seen[m.AVERAGE_GOAL_ACCURACY] == pytest.approx((1 + 0.5 + 1) / 3)
    assert seen[m.REQUESTED_SLOTS_F1] == pytest.approx(2 / 3)
    assert unseen[m.JOINT_GOAL_ACCURACY] == pytest.approx(0.75)
    assert unseen[m.ACTIVE_INTENT_ACCURACY] == 0.0
    assert everything[m.JOINT_GOAL_ACCURACY] == pytest.approx((1 + 0 + 1 + 0.75) / 4)
    assert agg["Restaurants"] == {k: v for k, v in agg["Restaurants_1"].items()}  # the domain collection
    assert m.SLOT_TAGGING_F1 not in everything  # no predicted spans, so not scored
    json.dumps(agg)  # the output is JSON as is


def test_mismatches_are_clear_errors():
    schema = parse_schema([{"service_name": "Alarm_1", "description": "d", "slots": [],
                            "intents": [{"name": "AddAlarm", "description": "a", "is_transactional": True}]}])
    ref = {"a1": _dialogue("a1", "Alarm_1", [_state("AddAlarm")])}
    with pytest.raises(ValueError, match="not in the reference, e.g. zz"):
        get_metrics(ref, {"zz": ref["a1"]}, schema, set())
    other = {"a1": _dialogue("a1", "Alarm_1", [_state("AddAlarm")], utterances={0: "different"})}
    with pytest.raises(ValueError, match="a1 turn 0: utterances don't match"):
        get_metrics(ref, other, schema, set())
    unknown = {"a1": _dialogue("a1", "Hotels_9", [_state("AddAlarm")])}
    with pytest.raises(ValueError, match="service 'Hotels_9' is not in the schema"):
        get_metrics(unknown, unknown, schema, set())
