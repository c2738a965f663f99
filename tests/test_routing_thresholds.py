"""The routing thresholds file: `lepton-tf eval routing --write` makes it, the assistant
routes by it, and a malformed one is refused clearly with nothing overwritten."""

import json

import numpy as np
import pytest

from assistant_fakes import fake_models
from conftest import free_port
from lepton_tf.assistant import calibration, routing_thresholds
from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import CHAT, OUT_OF_SCOPE, SEARCH, Router, default_router
from lepton_tf.client.assistant import AssistantClient
from lepton_tf.server.app import ModelServer, ServerOptions

# The fake encoder scores this turn 0.766 against the password document.
HALF_MATCH = "password account"


def thresholds_file(path, search_threshold, profile="plain"):
    shipped = routing_thresholds.load()[profile]["thresholds"]
    routing_thresholds.write(str(path), profile, dict(shipped, search_threshold=search_threshold),
                             "lepton-tf eval routing --write " + str(path), {})
    return str(path)


def route_of(thresholds, message):
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                         python_servables=fake_models())
    mount_assistant(server, routing_thresholds=thresholds, dialogue_turns=["hello there"],
                    smalltalk_turns=([], []), search_k=3, warm_up=False)
    server.start()
    try:
        return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="s",
                               timeout_s=30).ask(message)["route"]
    finally:
        server.stop(0)


def test_a_changed_thresholds_file_changes_the_served_route(tmp_path):
    low = thresholds_file(tmp_path / "low.json", 0.7)
    high = thresholds_file(tmp_path / "high.json", 0.8)
    assert route_of(low, HALF_MATCH) == SEARCH
    assert route_of(high, HALF_MATCH) != SEARCH


def test_the_shipped_file_is_the_default_and_records_its_command():
    profiles = routing_thresholds.load()
    assert set(profiles) == {"plain", "known_questions"}
    for profile in profiles.values():
        assert profile["command"].startswith("lepton-tf eval routing ")
        assert profile["measured"]["held_out_mean_recall"] > 0.9
    plain = profiles["plain"]["thresholds"]
    assert Router() == Router(**plain) == default_router(False)
    assert default_router(True) == Router(**profiles["known_questions"]["thresholds"])


def test_a_file_without_the_known_questions_profile_uses_plain_for_both(tmp_path):
    path = tmp_path / "plain_only.json"
    data = json.loads(open(routing_thresholds.SHIPPED).read())
    del data["profiles"]["known_questions"]
    data["profiles"]["plain"]["thresholds"]["search_threshold"] = 0.3
    path.write_text(json.dumps(data))
    assert default_router(True, str(path)).search_threshold == 0.3


def _signals(route, search, dialogue):
    n = len(search)
    return calibration.Signals(route, [f"{route} {i}" for i in range(n)], np.array(search),
                               np.array(dialogue), [None] * n)


def test_eval_routing_writes_what_it_calibrated_and_the_assistant_routes_by_it(tmp_path):
    from lepton_tf.evaluation.routing import evaluate

    rng = np.random.default_rng(0)
    # Knowledge-base questions score 0.30-0.40, everything else 0.05-0.20: the
    # calibrated search threshold falls between them, far under the shipped one.
    sets = {SEARCH: _signals(SEARCH, rng.uniform(0.30, 0.40, 60), rng.uniform(0.1, 0.2, 60)),
            CHAT: _signals(CHAT, rng.uniform(0.05, 0.20, 60), rng.uniform(0.6, 0.9, 60)),
            OUT_OF_SCOPE: _signals(OUT_OF_SCOPE, rng.uniform(0.05, 0.20, 60),
                                   rng.uniform(0.1, 0.3, 60))}
    result = evaluate(sets, Router(), known_questions=False)
    assert 0.20 <= result["thresholds"]["search_threshold"] <= 0.30
    assert result["held_out_mean_recall"] > 0.9
    path = str(tmp_path / "thresholds.json")
    routing_thresholds.write(path, "plain", result["thresholds"], "lepton-tf eval routing "
                             "--write " + path, {"sizes": result["sizes"]})
    mine, shipped = default_router(False, path), default_router(False)
    assert mine.route(0.35, 0.1, None) == SEARCH != shipped.route(0.35, 0.1, None)
    # The profile not measured keeps the shipped thresholds and their command.
    kept = routing_thresholds.load(path)["known_questions"]
    assert kept == routing_thresholds.load()["known_questions"]


@pytest.mark.parametrize("content, says", [
    ("{not json", "not JSON (line 1"),
    ('{"profiles": {}}', "not a routing thresholds file"),
    ('{"format": 1, "profiles": {"known_questions": {}}}', "'plain' profile"),
    ('{"format": 1, "profiles": {"plain": {"thresholds": {"search_threshold": 0.4}, '
     '"command": "x"}}}', "missing dialogue_threshold"),
    ('{"format": 1, "profiles": {"plain": {"thresholds": {"search_threshold": "high", '
     '"dialogue_threshold": 1, "chitchat_threshold": 1, "service_threshold": 1, '
     '"margin_threshold": 0, "dialogue_floor": 0}, "command": "x"}}}',
     "search_threshold must be a finite number, got 'high'"),
    ('{"format": 1, "profiles": {"plain": {"thresholds": {"search_threshold": 0.4, '
     '"dialogue_threshold": 1, "chitchat_threshold": 1, "service_threshold": 1, '
     '"margin_threshold": 0, "dialogue_floor": 0}}}}', 'which "command"'),
    ('{"format": 1, "profiles": {"plain": {}, "faq": {}}}', "unknown profile(s) faq"),
])
def test_a_malformed_file_is_refused_naming_the_file_and_the_fault(tmp_path, content, says):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"bad\.json") as error:
        mount_assistant(ModelServer(ServerOptions(port=0, rest_api_port=0)),
                        routing_thresholds=str(path))
    assert says in str(error.value)


def test_eval_routing_refuses_to_write_over_a_malformed_file_in_one_line(tmp_path, capsys):
    from lepton_tf.cli import main

    path = tmp_path / "bad.json"
    path.write_text('{"format": 1}')
    code = main(["eval", "routing", "--models", str(tmp_path / "none"), "--index",
                 str(tmp_path / "none"), "--write", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "bad.json" in err and "Traceback" not in err
    assert path.read_text() == '{"format": 1}'  # nothing lost
