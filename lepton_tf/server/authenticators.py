"""Bearer tokens -> principals: a shared token, a tokens file, signed JWTs.

`--auth_token T`: one shared token; its caller is unrestricted (every
document): one caller, nobody to tell apart.

`--tokens_file FILE` (YAML), reloaded when the file changes:

```yaml
alice:
  token_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
  groups: [support, emea]
  admin_of: [support]        # optional: groups whose report/audit it may read
front:
  token_sha256: ...
  unrestricted: true         # another lepton-tf server (a front calling its search
                             # shards): reads every document, passes its callers'
                             # permissions on in the filter
```

Only the token's SHA-256 is stored: the file leaks no token. A presented
token is hashed and compared with every entry by `hmac.compare_digest`
(constant time, no early exit), so timing tells nothing about which entry
nearly matched.

`--jwt_public_key FILE` (PEM) or `--jwt_jwks_file FILE` (a JSON Web Key Set,
re-read when it changes): signed JWTs verified by PyJWT (maintained, small,
pure Python on `cryptography`; it checks signature, `exp`, `nbf`, `iat`,
`aud` and `iss`, and refuses `alg: none` and HMAC tokens signed with a public
key). The principal is the `sub` claim, its groups the `groups` claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading

from lepton_tf.server.identity import SERVER, Principal

log = logging.getLogger(__name__)
JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "EdDSA")


class AuthConfigError(ValueError):
    """A tokens file, key or JWKS file that cannot be used (named in the message)."""


def token_sha256(token: str) -> str:
    """The hex SHA-256 a tokens file stores for `token`.

    >>> token_sha256("password")[:16]
    '5e884898da280471'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SharedToken:
    """One token for every caller (`--auth_token`): an unrestricted principal."""

    def __init__(self, token: str):
        self._digest = hashlib.sha256(token.encode("utf-8")).digest()

    def authenticate(self, token: str) -> Principal | None:
        got = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        return SERVER if hmac.compare_digest(got, self._digest) else None


def _string_set(value, what: str, where: str) -> frozenset:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(g, str) and g for g in value):
        raise AuthConfigError(f"{where}: {what} must be a list of non-empty strings")
    return frozenset(value)


def parse_tokens(doc, where: str) -> list[tuple[bytes, Principal]]:
    """`(sha256 digest, Principal)` per entry of a tokens file's YAML document.

    Raises:
        AuthConfigError: naming the entry that is wrong.
    """
    if not isinstance(doc, dict) or not doc:
        raise AuthConfigError(f"{where}: expected a mapping principal -> "
                              "{token_sha256: ..., groups: [...]}")
    entries = []
    for name, entry in doc.items():
        at = f"{where}: principal {name!r}"
        if not isinstance(entry, dict) or \
                set(entry) - {"token_sha256", "groups", "admin_of", "unrestricted"}:
            raise AuthConfigError(f"{at}: expected keys token_sha256, groups, admin_of, "
                                  "unrestricted")
        if not isinstance(entry.get("unrestricted", False), bool):
            raise AuthConfigError(f"{at}: unrestricted must be true or false")
        digest = entry.get("token_sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise AuthConfigError(f"{at}: token_sha256 must be 64 hex digits")
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raise AuthConfigError(f"{at}: token_sha256 must be 64 hex digits") from None
        entries.append((raw, Principal(str(name), _string_set(entry.get("groups"), "groups", at),
                                       _string_set(entry.get("admin_of"), "admin_of", at),
                                       entry.get("unrestricted", False))))
    return entries


class _Watched:
    """A file re-read when its modification time or size changes (checked at most
    every `interval_s`); a broken new version keeps the last good one."""

    def __init__(self, path: str, parse, interval_s: float = 1.0):
        import time

        self.path, self.parse, self.interval_s, self._time = path, parse, interval_s, time
        self._lock = threading.Lock()
        self._stamp = None
        self._checked = 0.0
        self.value = self._read()  # a broken file at start is an error

    def _read(self):
        stat = os.stat(self.path)
        with open(self.path, encoding="utf-8") as f:
            text = f.read()
        value = self.parse(text)
        self._stamp = (stat.st_mtime_ns, stat.st_size)
        return value

    def get(self):
        now = self._time.monotonic()
        if now - self._checked < self.interval_s:
            return self.value
        with self._lock:
            self._checked = now
            try:
                stat = os.stat(self.path)
                if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                    self.value = self._read()
                    log.info("Reloaded %s", self.path)
            except (OSError, ValueError) as e:
                log.error("%s not reloaded, keeping the previous version: %s", self.path, e)
        return self.value


class TokensFile:
    """Principals from a YAML tokens file, reloaded on change.

    Args:
        path: the file.
        interval_s: how often the file's stamp is checked.

    Raises:
        AuthConfigError / OSError: the file cannot be read or parsed at start.
    """

    def __init__(self, path: str, interval_s: float = 1.0):
        import yaml

        def parse(text):
            try:
                doc = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise AuthConfigError(f"{path}: not YAML ({e})") from None
            return parse_tokens(doc, path)
        self._file = _Watched(path, parse, interval_s)

    def authenticate(self, token: str) -> Principal | None:
        got = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found = None
        for digest, principal in self._file.get():
            if hmac.compare_digest(got, digest) and found is None:
                found = principal  # no early exit: every entry is compared
        return found


class JwtVerifier:
    """Principals from JWTs signed by a configured key or a JWKS file's keys.

    Args:
        public_key_file: a PEM public key.
        jwks_file: a JSON Web Key Set (keys chosen by the token's `kid`).
        audience / issuer: required `aud` / `iss` values (None: not checked).
        algorithms: accepted signature algorithms (asymmetric ones only).
        groups_claim: the claim listing the principal's groups.

    Raises:
        AuthConfigError: neither or both files, or a file that is no key.
    """

    def __init__(self, public_key_file: str | None = None, jwks_file: str | None = None,
                 audience: str | None = None, issuer: str | None = None,
                 algorithms=JWT_ALGORITHMS, groups_claim: str = "groups"):
        import jwt

        self._jwt = jwt
        if bool(public_key_file) == bool(jwks_file):
            raise AuthConfigError("give one of --jwt_public_key and --jwt_jwks_file")
        self.audience, self.issuer, self.groups_claim = audience, issuer, groups_claim
        self.algorithms = list(algorithms)
        if public_key_file:
            with open(public_key_file, encoding="utf-8") as f:
                pem = f.read()
            try:
                from cryptography.hazmat.primitives.serialization import load_pem_public_key

                self._key = load_pem_public_key(pem.encode())
            except ValueError as e:
                raise AuthConfigError(f"{public_key_file}: not a PEM public key ({e})") from None
            self._jwks = None
        else:
            def parse(text):
                try:
                    return jwt.PyJWKSet.from_json(text)
                except (jwt.PyJWTError, ValueError, json.JSONDecodeError) as e:
                    raise AuthConfigError(f"{jwks_file}: not a JWKS ({e})") from None
            self._jwks = _Watched(jwks_file, parse)

    def _key_for(self, token: str):
        if self._jwks is None:
            return self._key
        kid = self._jwt.get_unverified_header(token).get("kid")
        keys = self._jwks.get().keys
        for key in keys:
            if key.key_id == kid or (kid is None and len(keys) == 1):
                return key.key
        return None

    def authenticate(self, token: str) -> Principal | None:
        jwt = self._jwt
        if token.count(".") != 2:
            return None
        try:
            key = self._key_for(token)
            if key is None:
                return None
            claims = jwt.decode(token, key, algorithms=self.algorithms, audience=self.audience,
                                issuer=self.issuer,
                                options={"require": ["sub", "exp"],
                                         "verify_aud": self.audience is not None})
        except (jwt.PyJWTError, ValueError) as e:
            log.info("JWT refused: %s", type(e).__name__)  # never the token itself
            return None
        groups = claims.get(self.groups_claim) or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        admin = claims.get("admin_of") or []
        return Principal(str(claims["sub"]), frozenset(groups),
                         frozenset(a for a in admin if isinstance(a, str))
                         if isinstance(admin, list) else frozenset())


class Authenticators:
    """Tries each configured authenticator on a bearer token; None: no auth
    configured (every caller is the unrestricted server principal)."""

    def __init__(self, authenticators: list):
        self.authenticators = list(authenticators)

    @property
    def required(self) -> bool:
        return bool(self.authenticators)

    def principal(self, authorization: str | bytes | None) -> Principal | None:
        """The principal of an `Authorization` header value (None: refused).

        Args:
            authorization: `"Bearer TOKEN"` (None or anything else: refused).
        """
        if not self.required:
            return SERVER
        if isinstance(authorization, bytes):
            authorization = authorization.decode("utf-8", "replace")
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):].strip()
        if not token:
            return None
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(token)
            if principal is not None:
                return principal
        return None


def from_options(options) -> Authenticators:
    """The authenticators `ServerOptions` configure (`auth_token`, `tokens_file`,
    `jwt_public_key`, `jwt_jwks_file`, `jwt_audience`, `jwt_issuer`).

    Raises:
        AuthConfigError / OSError: a file that cannot be used.
    """
    found = []
    if getattr(options, "tokens_file", None):
        found.append(TokensFile(options.tokens_file))
    if getattr(options, "jwt_public_key", None) or getattr(options, "jwt_jwks_file", None):
        found.append(JwtVerifier(options.jwt_public_key, options.jwt_jwks_file,
                                 options.jwt_audience, options.jwt_issuer))
    if getattr(options, "auth_token", None):
        found.append(SharedToken(options.auth_token))
    return Authenticators(found)
