"""Service schemas: SGD's own files load, malformed ones fail naming file, service and field."""

import copy
import gzip
import json
from pathlib import Path

import pytest

from lepton_tf.dialogue import DialogueState, SchemaError, ServiceState, Tracker, load_schema, parse_schema

DATA = Path(__file__).resolve().parents[1] / "data" / "sgd"

ALARM = {
    "service_name": "Alarm_1",
    "description": "Manage alarms by getting and setting them easily",
    "slots": [
        {"name": "alarm_time", "description": "Time of the alarm", "is_categorical": False, "possible_values": []},
        {"name": "alarm_name", "description": "Name of the alarm", "is_categorical": False, "possible_values": []},
        {"name": "snooze", "description": "Whether to snooze", "is_categorical": True, "possible_values": ["True", "False"]},
    ],
    "intents": [
        {"name": "AddAlarm", "description": "Set a new alarm", "is_transactional": True,
         "required_slots": ["alarm_time"], "optional_slots": {"alarm_name": "New alarm", "snooze": "dontcare"},
         "result_slots": ["alarm_time", "alarm_name"]},
    ],
}


def _write(tmp_path, services, name="schema.json"):
    path = tmp_path / name
    path.write_text(json.dumps(services))
    return path


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_sgd_schemas_load(split):
    schema = load_schema(DATA / f"schema_{split}.json.gz")
    raw = json.loads(gzip.decompress((DATA / f"schema_{split}.json.gz").read_bytes()))
    assert list(schema) == [s["service_name"] for s in raw]
    for service in raw:
        loaded = schema[service["service_name"]]
        assert loaded.slot_names == tuple(s["name"] for s in service["slots"])
        assert loaded.intent_names == tuple(i["name"] for i in service["intents"])
        for intent in service["intents"]:
            got = loaded.intent(intent["name"])
            assert got.required_slots == tuple(intent["required_slots"])
            assert dict(got.optional_slots) == intent["optional_slots"]
            assert got.is_transactional is intent["is_transactional"]


def test_schema_fields(tmp_path):
    schema = load_schema(_write(tmp_path, [ALARM]))
    alarm = schema["Alarm_1"]
    assert alarm.slot("snooze").is_categorical and alarm.slot("snooze").possible_values == ("True", "False")
    assert not alarm.slot("alarm_time").is_categorical
    assert alarm.intent("AddAlarm").result_slots == ("alarm_time", "alarm_name")
    with pytest.raises(KeyError, match="no slot 'colour'"):
        alarm.slot("colour")


def _broken(mutate):
    service = copy.deepcopy(ALARM)
    mutate(service)
    return service


@pytest.mark.parametrize(
    "mutate, field, reason",
    [
        (lambda s: s["intents"][0]["required_slots"].append("alarm_colour"),
         "intents[0].required_slots[1]", "unknown slot 'alarm_colour'"),
        (lambda s: s["intents"][0]["result_slots"].append("x"), "intents[0].result_slots[2]", "unknown slot 'x'"),
        (lambda s: s["intents"][0]["optional_slots"].update(volume="3"), "intents[0].optional_slots.volume",
         "unknown slot 'volume'"),
        (lambda s: s["intents"][0]["optional_slots"].update(snooze="Maybe"), "intents[0].optional_slots.snooze",
         "not a possible value"),
        (lambda s: s["slots"][0].pop("description"), "slots[0].description", "missing field"),
        (lambda s: s["slots"][2].update(is_categorical="yes"), "slots[2].is_categorical",
         "must be true or false, got a string"),
        (lambda s: s["slots"][2].update(possible_values=[]), "slots[2].possible_values", "at least one value"),
        (lambda s: s["slots"][1].update(name="alarm_time"), "slots[1]", "'alarm_time' appears more than once"),
        (lambda s: s["intents"][0].update(required_slots="alarm_time"), "intents[0].required_slots",
         "must be a list, got a string"),
        (lambda s: s["intents"][0].update(is_transactional=1), "intents[0].is_transactional",
         "must be true or false, got a number"),
        (lambda s: s.update(intents=[]), "intents", "at least one intent"),
        (lambda s: s.update(description=""), "description", "must not be empty"),
    ],
)
def test_malformed_service_names_file_service_and_field(tmp_path, mutate, field, reason):
    path = _write(tmp_path, [ALARM | {"service_name": "Other_1"}, _broken(mutate)])
    with pytest.raises(SchemaError) as err:
        load_schema(path)
    assert err.value.path == str(path)
    assert err.value.service == "Alarm_1"
    assert err.value.field == field
    assert reason in err.value.reason
    assert str(err.value).startswith(f"{path}: service 'Alarm_1': {field}: ")


def test_file_level_errors(tmp_path):
    with pytest.raises(SchemaError, match="no such file"):
        load_schema(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"service_name": ')
    with pytest.raises(SchemaError, match=r"bad.json: invalid JSON at line 1"):
        load_schema(bad)
    with pytest.raises(SchemaError, match="must be a JSON list of services, got an object"):
        load_schema(_write(tmp_path, {"service_name": "x"}))
    with pytest.raises(SchemaError, match="service 'Alarm_1': service_name: appears more than once"):
        parse_schema([ALARM, ALARM])
    nameless = copy.deepcopy(ALARM)
    del nameless["service_name"]
    with pytest.raises(SchemaError, match=r"service '#1': service_name: missing field"):
        parse_schema([ALARM | {"service_name": "A"}, nameless])


def test_gzipped_schema_detected_by_content(tmp_path):
    path = tmp_path / "schema.json"  # no .gz suffix: the magic bytes decide
    path.write_bytes(gzip.compress(json.dumps([ALARM]).encode()))
    assert list(load_schema(path)) == ["Alarm_1"]


def test_dialogue_state_round_trips_sgd_layout():
    raw = {"active_intent": "AddAlarm", "requested_slots": ["alarm_name"],
           "slot_values": {"alarm_time": ["7 am", "7 in the morning"]}}
    state = DialogueState().with_service("Alarm_1", ServiceState.from_json(raw))
    assert state.to_json() == {"Alarm_1": raw}
    assert state.service("Alarm_1").value("alarm_time") == "7 am"
    assert state.service("Hotels_2") == ServiceState()
    with pytest.raises(ValueError, match="slot_values.alarm_time must be a list of strings"):
        ServiceState.from_json({"slot_values": {"alarm_time": "7 am"}})


def test_tracker_protocol_is_structural():
    class Echo:
        def update(self, state, system_utterance, user_utterance, schemas):
            return state

    assert isinstance(Echo(), Tracker)
    assert not isinstance(object(), Tracker)


def test_schema_command(tmp_path, capsys):
    from lepton_tf.cli import main

    assert main(["schema", str(DATA / "schema_test.json.gz")]) == 0
    assert "schema_test.json.gz: ok: 21 services, 38 intents" in capsys.readouterr().out
    bad = _write(tmp_path, [_broken(lambda s: s["intents"][0]["required_slots"].append("alarm_colour"))])
    assert main(["schema", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"lepton-tf schema: error: {bad}: service 'Alarm_1': intents[0].required_slots[1]: "
                   "unknown slot 'alarm_colour' (slots: alarm_time, alarm_name, snooze)\n")
