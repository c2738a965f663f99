"""A server with the conversation fakes and a conversation store, in this process
(`start`) or as a child process (`python tests/stored_conversation.py URL`, which
prints `{"grpc": port, "rest": port}` on one line once it serves)."""

import json
import os
import sys
import tempfile
import urllib.error
import urllib.request

from conftest import free_port
from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models

from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.server.app import ModelServer, ServerOptions

ROUTER = Router(search_threshold=0.3, dialogue_threshold=0.6)
METRICS_PATH = "/monitoring/prometheus/metrics"


def start(store_url: str | None, auth_token: str | None = None, models: dict | None = None,
          rest_port: int | None = None, **store_options) -> ModelServer:
    monitoring = os.path.join(tempfile.mkdtemp(), "monitoring.config")
    with open(monitoring, "w") as f:
        f.write(f'prometheus_config {{ enable: true path: "{METRICS_PATH}" }}\n')
    server = ModelServer(ServerOptions(port=0, rest_api_port=rest_port or free_port(),
                                       monitoring_config_file=monitoring,
                                       auth_token=auth_token),
                         python_servables=models or conversation_models())
    mount_assistant(server, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, store_url=store_url, **store_options)
    return server.start()


def post(port: int, path: str, doc: dict) -> tuple[int, object]:
    """`(status, body)` of a JSON POST; an NDJSON body is a list of events."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=json.dumps(doc).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    if path.endswith(":stream") and status == 200:
        return status, [json.loads(line) for line in text.splitlines() if line]
    return status, json.loads(text)


def metric(port: int, name: str, labels: str = "") -> float:
    """A sample of the server's Prometheus exposition (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{METRICS_PATH}", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + labels + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


if __name__ == "__main__":
    served = start(sys.argv[1])
    print(json.dumps({"grpc": served.grpc_port, "rest": served.rest_port}), flush=True)
    served.wait()
