"""serving/kubernetes: every manifest validates against the Kubernetes schemas
(kubernetes-validate's bundled JSON schemas, offline) and the pieces fit."""

import glob
import os

import pytest
import yaml

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (the `test` extra)")

from conftest import REPO  # noqa: E402

K8S = os.path.join(REPO, "serving", "kubernetes")
VERSION = "1.37.0"


def _resources():
    found = []
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml"))):
        with open(path) as f:
            found += [(os.path.basename(path), doc) for doc in yaml.safe_load_all(f) if doc]
    return found


def test_manifests_validate_strictly_against_the_schemas():
    resources = _resources()
    assert len(resources) >= 8
    for name, doc in resources:
        try:
            kubernetes_validate.validate(doc, VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{name}: {doc['kind']} {doc['metadata']['name']}: {e.message}")


def test_the_schema_validator_catches_a_wrong_field():
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
           "spec": {"clusterIP": "None", "ports": [{"port": "grpc"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSION, strict=True)


def test_services_are_headless_and_select_pods_the_front_calls():
    resources = _resources()
    pods = {doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
            for _, doc in resources if doc["kind"] == "Deployment"}
    services = {doc["metadata"]["name"]: doc["spec"] for _, doc in resources
                if doc["kind"] == "Service"}
    claims = {doc["metadata"]["name"] for _, doc in resources
              if doc["kind"] == "PersistentVolumeClaim"}
    for name, spec in services.items():
        assert spec["clusterIP"] == "None", f"{name}: gRPC needs a headless Service"
        assert any(spec["selector"].items() <= labels.items() for labels in pods.values()), name
    for _, doc in resources:
        for volume in doc["spec"].get("template", {}).get("spec", {}).get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
    front = next(doc for _, doc in resources if doc["metadata"]["name"] == "search"
                 and doc["kind"] == "Deployment")
    args = front["spec"]["template"]["spec"]["containers"][0]["args"]
    shards = next(a for a in args if a.startswith("--search-shards="))
    targets = shards.split("=", 1)[1].split(",")
    shard_services = sorted(n for n in services if n.startswith("search-shard-"))
    assert [t.split("///")[1].split(".")[0] for t in targets] == shard_services
    assert all(t.startswith("dns:///") for t in targets)  # resolve every pod
    job = next(doc for _, doc in resources if doc["kind"] == "Job")
    job_args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--num-shards={len(shard_services)}" in job_args


def test_the_assistant_replicas_share_a_store_whose_url_comes_from_a_secret():
    """Every replica reads the conversation store's URL from the Secret through the
    environment (`lepton-tf serve` reads $LEPTON_CONVERSATION_STORE); no URL, and so no
    password, in any manifest's args."""
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import STORE_URL_VARIABLE

    resources = _resources()
    assistant = next(doc for _, doc in resources if doc["kind"] == "Deployment"
                     and doc["metadata"]["name"] == "assistant")
    assert assistant["spec"]["replicas"] >= 2
    container = assistant["spec"]["template"]["spec"]["containers"][0]
    build_parser().parse_args(["serve", *container["args"]])  # the flags exist
    assert "--assistant" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    secret = env[STORE_URL_VARIABLE]["valueFrom"]["secretKeyRef"]
    assert secret["name"] and secret["key"] and not secret.get("optional")
    for _, doc in resources:
        text = yaml.safe_dump(doc)
        assert "postgresql://" not in text and "--conversation_store" not in text
