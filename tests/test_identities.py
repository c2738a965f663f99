"""Identities: a tokens file (reloaded on change) and signed JWTs (a PEM key, a JWKS
file) map bearer tokens to principals on gRPC and REST; the principal reaches the
servable that answers (batched requests too); tokens in URLs are refused and no
token is ever logged."""

import json
import logging
import os
import time

import grpc
import jwt
import numpy as np
import pytest
import requests
from conftest import free_port
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from lepton_tf.server import identity
from lepton_tf.server.authenticators import AuthConfigError, TokensFile, token_sha256
from lepton_tf.server.servable import Servable, Signature, TensorSpec

ALICE, BOB, CAROL = "alice-token-7f3a", "bob-token-c91e", "carol-token-55d0"


class WhoAmI(Servable):
    """Answers each row with the principal the server says is calling."""

    def __init__(self):
        self.name, self.version = "whoami", 1
        sig = Signature({"x": TensorSpec("x", "string", (None,))},
                        {"who": TensorSpec("who", "string", (None,))})
        self._signatures = {"serving_default": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        p = identity.current()
        who = f"{p.name}:{','.join(sorted(p.groups))}".encode()
        return {"who": np.array([who] * len(inputs["x"]), object)}


def _tokens_yaml(entries: dict) -> str:
    return "".join(f"{name}:\n  token_sha256: {token_sha256(token)}\n  groups: {groups}\n"
                   for name, (token, groups) in entries.items())


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = folder / "rsa.pem"
    pem.write_bytes(rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [dict(jwk, kid="k1", use="sig", alg="ES256")]}))
    return {"rsa": rsa_key, "pem": str(pem), "ec": ec_key, "jwks": str(jwks)}


def _serve(tmp_path, **options):
    from lepton_tf.server.app import ModelServer, ServerOptions

    params = tmp_path / "batching.config"
    params.write_text("max_batch_size { value: 8 } batch_timeout_micros { value: 20000 }\n")
    return ModelServer(ServerOptions(port=0, rest_api_port=free_port(), enable_batching=True,
                                     batching_parameters_file=str(params), **options),
                       python_servables={"whoami": WhoAmI()}).start()


def _grpc_who(server, token):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "whoami"
    request.inputs["x"].CopyFrom(__import__("tensorflow").make_tensor_proto([b"a"]))
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=10,
                                metadata=(("authorization", f"Bearer {token}"),))
    return response.outputs["who"].string_val[0].decode()


def _rest_who(server, token):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/models/whoami:predict",
                      json={"instances": ["a"]}, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
    return r.status_code, r.json()


def test_tokens_file_principals_reach_the_servable_and_reload(tmp_path, caplog):
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(_tokens_yaml({"alice": (ALICE, ["support"]), "bob": (BOB, ["sales"])}))
    caplog.set_level(logging.DEBUG)
    server = _serve(tmp_path, tokens_file=str(tokens))
    try:
        assert _grpc_who(server, ALICE) == "alice:support"
        assert _grpc_who(server, BOB) == "bob:sales"
        assert _rest_who(server, ALICE) == (200, {"predictions": ["alice:support"]})
        assert _rest_who(server, BOB) == (200, {"predictions": ["bob:sales"]})
        with pytest.raises(grpc.RpcError) as info:
            _grpc_who(server, CAROL)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _rest_who(server, CAROL)[0] == 401
        # Concurrent callers in one batching window: each row answered as its caller.
        from concurrent import futures
        with futures.ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda t: _rest_who(server, t)[1]["predictions"][0],
                                [ALICE, BOB] * 8))
        assert got == ["alice:support", "bob:sales"] * 8
        # The file changes: bob loses "sales", carol arrives; no restart.
        time.sleep(0.01)
        tokens.write_text(_tokens_yaml({"alice": (ALICE, ["support"]), "bob": (BOB, []),
                                        "carol": (CAROL, ["sales", "emea"])}))
        os.utime(tokens, (time.time() + 5, time.time() + 5))
        deadline = time.monotonic() + 10
        while _rest_who(server, CAROL)[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _grpc_who(server, CAROL) == "carol:emea,sales"
        assert _grpc_who(server, BOB) == "bob:"
        # A broken file keeps the last good principals (and says so in the log).
        tokens.write_text("alice: [not, a, mapping]\n")
        os.utime(tokens, (time.time() + 10, time.time() + 10))
        time.sleep(1.2)
        assert _rest_who(server, ALICE) == (200, {"predictions": ["alice:support"]})
        # Tokens in the URL are refused before anything reads them.
        r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/models/whoami:predict"
                          f"?access_token={ALICE}", json={"instances": ["a"]}, timeout=10)
        assert r.status_code == 400 and "Authorization header" in r.json()["error"]
        r = requests.get(f"http://127.0.0.1:{server.rest_port}/v1/models/whoami?token={BOB}",
                         headers={"Authorization": f"Bearer {BOB}"}, timeout=10)
        assert r.status_code == 400
    finally:
        server.stop(0)
    # The server's own logs (the client library logs the URLs it requests: the
    # reason tokens must never be put in one).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("lepton_tf"))
    assert "Reloaded" in logged
    for token in (ALICE, BOB, CAROL):
        assert token not in logged


def test_tokens_file_errors_are_clear(tmp_path):
    bad = tmp_path / "tokens.yaml"
    bad.write_text("alice:\n  token_sha256: abc\n")
    with pytest.raises(AuthConfigError, match="alice.*64 hex"):
        TokensFile(str(bad))
    bad.write_text("alice:\n  token_sha256: \"" + "0" * 64 + "\"\n  groups: support\n")
    with pytest.raises(AuthConfigError, match="groups must be a list"):
        TokensFile(str(bad))


def _jwt(key, alg, **claims):
    body = {"sub": "dora", "groups": ["clinic"], "exp": int(time.time()) + 300, **claims}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": "k1"})


def test_jwts_signed_by_the_configured_key(tmp_path, keys):
    server = _serve(tmp_path, jwt_public_key=keys["pem"], jwt_audience="lepton")
    try:
        good = _jwt(keys["rsa"], "RS256", aud="lepton")
        assert _grpc_who(server, good) == "dora:clinic"
        assert _rest_who(server, good) == (200, {"predictions": ["dora:clinic"]})
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem_text = open(keys["pem"], "rb").read()
        refused = [_jwt(other, "RS256", aud="lepton"),               # another key
                   _jwt(keys["rsa"], "RS256", aud="elsewhere"),      # wrong audience
                   _jwt(keys["rsa"], "RS256", aud="lepton",
                        exp=int(time.time()) - 60),                  # expired
                   jwt.encode({"sub": "x", "exp": int(time.time()) + 60, "aud": "lepton"},
                              None, algorithm="none"),               # unsigned
                   good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")]
        try:  # HMAC "signed" with the public key: PyJWT refuses to even make it
            refused.append(jwt.encode({"sub": "x", "exp": int(time.time()) + 60},
                                      pem_text, algorithm="HS256"))
        except jwt.InvalidKeyError:
            pass
        for token in refused:
            assert _rest_who(server, token)[0] == 401
            with pytest.raises(grpc.RpcError) as info:
                _grpc_who(server, token)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(0)


def test_jwts_from_a_jwks_file(tmp_path, keys):
    server = _serve(tmp_path, jwt_jwks_file=keys["jwks"])
    try:
        assert _rest_who(server, _jwt(keys["ec"], "ES256")) == (200,
                                                                {"predictions": ["dora:clinic"]})
        stranger = ec.generate_private_key(ec.SECP256R1())
        assert _rest_who(server, _jwt(stranger, "ES256"))[0] == 401
    finally:
        server.stop(0)
