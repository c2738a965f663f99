"""Which backend serves which intent: a YAML file.

```yaml
version: 1
backends:
  example_db:                      # a name of your choosing
    type: sql
    url: sqlite:///databases/example.sqlite
    url_env: LEPTON_TF_DIALOGUE_DB # if set, wins (postgresql://... in a deployment)
    pass_through: [number_of_rooms, passengers]
  bookings:
    type: http
    url: https://bookings.example.com/lepton/v1
    token_env: BOOKINGS_TOKEN      # the bearer token comes from the environment
    timeout_s: 3
    retries: 1
    idempotent_transactions: true
    ca_file: /etc/ssl/our-ca.pem
  alarms:
    type: python
    callable: my_company.alarms:handle
    timeout_s: 2
bind:                              # "Service.Intent" glob -> backend; first match wins
  "Restaurants_*.*": example_db
  "Alarm_1.*": alarms
```

An intent no pattern binds has no backend: the assistant says it cannot do that
rather than pretend to.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Mapping

from lepton_tf.dialogue.backend import (UNSUPPORTED, BackendCall, BackendError, BackendResult,
                                        Declined)
from lepton_tf.dialogue.python_backend import PythonBackend
from lepton_tf.dialogue.sql_backend import Debit, SqlBackend
from lepton_tf.dialogue.webhook import WebhookBackend
from lepton_tf.files.yaml_file import read_yaml

CONFIG_VERSION = 1
_KEYS = {"sql": {"type", "url", "url_env", "pass_through", "debits", "timeout_s",
                 "max_results"},
         "http": {"type", "url", "url_env", "token_env", "timeout_s", "retries", "backoff_s",
                  "idempotent_transactions", "ca_file"},
         "python": {"type", "callable", "timeout_s"}}


class ConfigError(ValueError):
    """A backends file that cannot be used; the message names the file and the field."""


class Backends:
    """The configured backends and their bindings; calls one per request.

    Args:
        backends: name -> backend.
        bindings: ``(pattern, name)`` in order ("Service.Intent" globs).
    """

    def __init__(self, backends: Mapping, bindings: list[tuple[str, str]]):
        self.backends, self.bindings = dict(backends), list(bindings)

    def bound(self, service: str, intent: str) -> str:
        """The backend name serving ``service.intent`` ("" for none)."""
        for pattern, name in self.bindings:
            if fnmatch.fnmatchcase(f"{service}.{intent}", pattern):
                return name
        return ""

    def call(self, request: BackendCall) -> BackendResult:
        """Calls the bound backend; never raises for the backend's own failures.

        Returns:
            The rows, or the error kind and detail (``unsupported`` when no
            backend is bound).
        """
        name = self.bound(request.service, request.intent)
        if not name:
            return BackendResult(request, "", error=UNSUPPORTED,
                                 detail=f"no backend bound to {request.service}.{request.intent}")
        start = time.perf_counter()
        try:
            rows = self.backends[name].call(request)
        except BackendError as e:
            return BackendResult(request, name, error=e.kind, detail=e.detail,
                                 elapsed_ms=(time.perf_counter() - start) * 1e3)
        except Declined as e:
            return BackendResult(request, name, declined=e.reason,
                                 elapsed_ms=(time.perf_counter() - start) * 1e3)
        return BackendResult(request, name, tuple(rows),
                             elapsed_ms=(time.perf_counter() - start) * 1e3)


def _number(raw: dict, key: str, where: str, default: float, kind=float):
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{where}.{key}: must be a number >= 0, got {value!r}")
    return kind(value)


def _debits(raw, where: str) -> dict[str, Debit]:
    """``"Service.Intent": {amount: SLOT, balance: COLUMN}`` of a SQL backend."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must map 'Service.Intent' to {{amount, balance}}")
    out = {}
    for pattern, spec in raw.items():
        if "." not in str(pattern) or not isinstance(spec, dict) \
                or set(spec) != {"amount", "balance"} \
                or not all(isinstance(v, str) and v for v in spec.values()):
            raise ConfigError(f"{where}.{pattern}: needs 'Service.Intent': "
                              "{amount: SLOT, balance: COLUMN}")
        out[str(pattern)] = Debit(spec["amount"], spec["balance"])
    return out


def _build(name: str, raw, schemas, where: str, environ: Mapping[str, str]):
    if not isinstance(raw, dict) or raw.get("type") not in _KEYS:
        raise ConfigError(f"{where}: needs type: sql, http or python")
    kind = raw["type"]
    unknown = set(raw) - _KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} for type {kind}")
    url = environ.get(raw["url_env"], "") if raw.get("url_env") else ""
    url = url or raw.get("url", "")
    timeout = _number(raw, "timeout_s", where, 5.0)
    try:
        if kind == "sql":
            passed = raw.get("pass_through", [])
            if not isinstance(passed, list) or not all(isinstance(s, str) for s in passed):
                raise ConfigError(f"{where}.pass_through: must be a list of slot names")
            return SqlBackend(str(url), schemas, passed, timeout,
                              _number(raw, "max_results", where, 50, int),
                              _debits(raw.get("debits", {}), f"{where}.debits"))
        if kind == "http":
            token = ""
            if raw.get("token_env"):
                token = environ.get(raw["token_env"], "")
                if not token:
                    raise ConfigError(f"{where}.token_env: {raw['token_env']} is not set")
            return WebhookBackend(str(url), token, timeout, _number(raw, "retries", where, 1, int),
                                  _number(raw, "backoff_s", where, 0.2),
                                  bool(raw.get("idempotent_transactions", False)),
                                  raw.get("ca_file"))
        if not isinstance(raw.get("callable"), str):
            raise ConfigError(f"{where}.callable: needs 'module:function'")
        return PythonBackend(raw["callable"], timeout)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def parse_backends(raw, schemas, path: str = "<memory>",
                   environ: Mapping[str, str] | None = None) -> Backends:
    """Build the backends of a parsed YAML document.

    Args:
        raw: the document.
        schemas: service name -> schema (the SQL backend reads the intents).
        path: named in errors.
        environ: where ``url_env`` and ``token_env`` are read (default ``os.environ``).

    Raises:
        ConfigError: naming ``path``, the field and what is wrong.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with version, backends and bind")
    if raw.get("version") != CONFIG_VERSION:
        raise ConfigError(f"{path}: version must be {CONFIG_VERSION}, got {raw.get('version')!r}")
    declared, bind = raw.get("backends"), raw.get("bind")
    if not isinstance(declared, dict) or not isinstance(bind, dict):
        raise ConfigError(f"{path}: 'backends' and 'bind' must be mappings")
    backends = {name: _build(name, spec, schemas, f"{path}: backends.{name}", environ)
                for name, spec in declared.items()}
    bindings = []
    for pattern, name in bind.items():
        if name not in backends:
            raise ConfigError(f"{path}: bind.{pattern}: no backend named {name!r}")
        if "." not in str(pattern):
            raise ConfigError(f"{path}: bind.{pattern}: patterns read 'Service.Intent'")
        bindings.append((str(pattern), name))
    return Backends(backends, bindings)


def load_backends(path: str | os.PathLike, schemas, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Mapping] | None = None) -> Backends:
    """Read a backends YAML file.

    Args:
        path: the file.
        schemas: service name -> schema.
        environ: where ``*_env`` keys are read.
        overrides: backend name -> keys replacing the file's (e.g. another ``url``).

    Raises:
        ConfigError: a missing or malformed file.
    """
    raw = read_yaml(path, ConfigError)
    for name, keys in (overrides or {}).items():
        if isinstance(raw, dict) and isinstance(raw.get("backends"), dict) \
                and name in raw["backends"]:
            raw["backends"][name] = {**raw["backends"][name], **keys}
    return parse_backends(raw, schemas, os.fspath(path), environ)
