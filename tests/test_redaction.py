"""Personal data redaction: the measured targets on the labelled sample, typed
placeholders, the per-knowledge-base policy, and a real server's logs and metric
labels (the request itself keeps the real values)."""

import json
import logging
import os
import sys

import numpy as np
import pytest
import requests
from conftest import REPO, free_port

from lepton_tf.server.servable import Servable, Signature, TensorSpec
from lepton_tf.text.redaction import (RedactionPolicy, find_personal_data, load_policy, redact,
                                      redact_value)

sys.path.insert(0, os.path.join(REPO, "bench"))
from redaction import SAMPLE, TARGETS, evaluate  # noqa: E402


# The second sample was written apart from the detectors (bench/make_pii_holdout.py).
HOLDOUT = os.path.join(REPO, "bench", "data", "pii_sample_holdout.jsonl")


@pytest.mark.parametrize("sample", [SAMPLE, HOLDOUT], ids=["sample", "holdout"])
def test_the_labelled_sample_meets_the_targets(sample):
    with open(sample, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) >= 200 and sum(1 for r in rows if not r["pii"]) >= 50
    counts, errors = evaluate(rows, RedactionPolicy())
    for kind, (want_recall, want_precision) in TARGETS.items():
        c = counts[kind]
        assert c["tp"] + c["fn"] >= 30, kind  # every kind is really measured
        assert c["tp"] / (c["tp"] + c["fn"]) >= want_recall, (kind, errors)
        assert c["tp"] / (c["tp"] + c["fp"]) >= want_precision, (kind, errors)


def test_placeholders_and_checksums():
    text = ("Hi, I'm jo@example.com, +1 (415) 867-5309. Card 4111-1111-1111-1111, "
            "IBAN GB82 WEST 1234 5698 7654 32 please. Order 4111-1111-1111-1112.")
    assert redact(text) == ("Hi, I'm [EMAIL], [PHONE]. Card [CARD], IBAN [IBAN] please. "
                            "Order 4111-1111-1111-1112.")
    assert redact("DE89 3704 0044 0532 0130 01 is wrong") == \
        "DE89 3704 0044 0532 0130 01 is wrong"  # bad IBAN check digits
    assert redact_value({"a": ["mail x@y.org"], "n": 3}) == {"a": ["mail [EMAIL]"], "n": 3}
    assert [f.kind for f in find_personal_data("5555 5555 5555 4444 or 212-736-5000")] == \
        ["CARD", "PHONE"]


def test_dialled_international_prefixes_and_national_grouping():
    # "00" and (from North America) "011" dial out like "+"; the prefix is redacted too
    assert redact("Ring 0044 7911 123456 or 0049 30 90187493.") == "Ring [PHONE] or [PHONE]."
    assert redact("tel 011 44 20 7946 0123") == "tel [PHONE]"
    # a national number grouped as no one writes a phone number is not one
    assert redact("Order ID: ORD-2026-000418 shipped") == "Order ID: ORD-2026-000418 shipped"
    assert redact("call (202) 600-0418 or 202.600.0418") == "call [PHONE] or [PHONE]"


def test_policy_per_knowledge_base(tmp_path):
    assert load_policy(str(tmp_path)) == RedactionPolicy()
    (tmp_path / "redaction.json").write_text('{"phones": false, "phone_region": "GB"}')
    policy = load_policy(str(tmp_path))
    assert redact("call 020 7946 0958 or mail a@b.co", policy) == \
        "call 020 7946 0958 or mail [EMAIL]"
    assert redact("call 020 7946 0958", RedactionPolicy(phone_region="GB")) == "call [PHONE]"
    (tmp_path / "redaction.json").write_text('{"phone": false}')
    with pytest.raises(ValueError, match="unknown redaction settings"):
        load_policy(str(tmp_path))


class Echo(Servable):
    """Fails on a text containing "fail" (quoting it), else echoes it."""

    def __init__(self):
        self.name, self.version = "echo", 1
        sig = Signature({"text": TensorSpec("text", "string", (None,))},
                        {"text": TensorSpec("text", "string", (None,))})
        self._signatures = {"serving_default": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        text = inputs["text"][0].decode()
        if "fail" in text:
            try:
                raise RuntimeError(f"could not handle {text!r}")
            except RuntimeError:
                logging.getLogger("lepton_tf.test_echo").exception("echo failed")
                raise ValueError("echo failed") from None
        logging.getLogger("lepton_tf.test_echo").warning("echoing %s", text)
        return {"text": np.array([text.encode()], object)}


def test_server_logs_and_metric_labels_are_redacted(tmp_path, caplog):
    from lepton_tf.server import log_redaction
    from lepton_tf.server.app import ModelServer, ServerOptions

    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }\n')
    caplog.set_level(logging.INFO)
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port(),
                                       monitoring_config_file=str(monitoring)),
                         python_servables={"echo": Echo()}).start()
    url = f"http://127.0.0.1:{server.rest_port}"
    try:
        secret = "mail jane.doe@example.com, card 4111 1111 1111 1111"
        r = requests.post(f"{url}/v1/models/echo:predict", json={"instances": [secret]},
                          timeout=10)
        assert r.json() == {"predictions": [secret]}  # the live answer keeps the values
        r = requests.post(f"{url}/v1/models/echo:predict",
                          json={"instances": [f"fail {secret}"]}, timeout=10)
        assert r.status_code == 400
        requests.post(f"{url}/v1/models/bob@example.com:predict", json={"instances": ["x"]},
                      timeout=10)
        metrics = requests.get(f"{url}/metrics", timeout=10).text
    finally:
        server.stop(0)
        log_redaction.uninstall()
    logged = caplog.text
    assert "echoing mail [EMAIL], card [CARD]" in logged
    assert "could not handle" in logged and "Traceback" in logged
    for value in ("jane.doe@example.com", "4111 1111 1111 1111", "bob@example.com"):
        assert value not in logged and value not in metrics
    assert 'model_name="[EMAIL]"' in metrics
