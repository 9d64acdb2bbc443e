"""Authentication: an HTTP ``Authorization`` header in, an :class:`Identity` out.

Accepted credentials, checked in this order:

1. **Open mode** (``auth_open``): every request is ``anonymous`` with ``auth_open_roles``, whatever
   it sends - azul-client sends ``Authorization: Bearer none`` in that mode. Logged loudly at start.
2. **Static API tokens** (``api_tokens``): ``Bearer <token>`` whose sha256 matches a configured hash.
   Only hashes are configured, and they are compared in constant time.
3. **JWT bearer tokens** (OIDC): the signature is checked against ``jwt_public_keys`` (PEM public keys
   or certificates) and/or the keys at ``jwt_jwks_url`` (fetched with ``PyJWKClient``, cached);
   ``exp`` is required, ``nbf``/``iat`` honoured with ``jwt_leeway_seconds`` of skew; ``iss`` and
   ``aud`` checked when configured. Only ``jwt_algorithms`` are accepted, never ``none``, and HS*
   only when ``jwt_hs256_secret`` is set (a shared secret lets anyone holding it mint tokens).

Every failure raises :class:`NotAuthenticated` with a reason code in ``parameters["reason"]``
(``missing``, ``malformed``, ``unsupported_scheme``, ``unsupported_algorithm``, ``bad_signature``,
``expired``, ``not_yet_valid``, ``wrong_issuer``, ``wrong_audience``, ``missing_claim``,
``unknown_key``, ``unknown_token``, ``no_username``) and is written to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from azul_metastore.errors import BackendUnavailable, ConfigError, NotAuthenticated
from azul_metastore.settings import Settings

__all__ = ["AUDIT_LOGGER", "Authenticator", "Identity", "log_auth_failure"]

AUDIT_LOGGER = "azul_metastore.audit"
_audit = logging.getLogger(AUDIT_LOGGER)
_log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"

# Key types that may verify each algorithm family (a key of another type is never tried).
_KEY_TYPES: dict[str, tuple[type, ...]] = {
    "RS": (rsa.RSAPublicKey,),
    "PS": (rsa.RSAPublicKey,),
    "ES": (ec.EllipticCurvePublicKey,),
    "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}


@dataclass(frozen=True)
class Identity:
    """Who made a request. ``method`` is ``jwt``, ``token`` or ``open``."""

    username: str
    roles: tuple[str, ...]
    email: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    method: str = "jwt"

    @property
    def unique_id(self) -> str:
        """A stable id of the user and their roles (Azul's ``UserInfo.unique_id``; cache keys).

        Hashed from a JSON array, which no username or role can break out of: a newline-joined
        text let user ``"bob\nadmin"`` share the cached access of user ``bob`` with role ``admin``."""
        text = orjson.dumps([self.username, sorted(self.roles)])
        return hashlib.sha256(text).hexdigest()[:32]


def _fail(reason: str, message: str) -> NotAuthenticated:
    return NotAuthenticated(message, reason=reason)


class Authenticator:
    """Turns ``Authorization`` headers into identities. Build once from settings (keys are parsed
    and the JWKS client is created here); ``authenticate`` is thread-safe.

    Raises ConfigError when a key cannot be read or an algorithm is not allowed.
    """

    def __init__(self, settings: Settings, *, jwks_client: jwt.PyJWKClient | None = None) -> None:
        self._open = bool(settings.auth_open)
        self._open_roles = tuple(settings.auth_open_roles)
        self._tokens = [(bytes.fromhex(t.sha256), t) for t in settings.api_tokens]
        self._secret = settings.jwt_hs256_secret.get_secret_value().encode()
        self._issuer = settings.jwt_issuer or None
        self._audience = settings.jwt_audience or None
        self._leeway = settings.jwt_leeway_seconds
        self._username_claim = settings.jwt_username_claim
        self._roles_claim = settings.jwt_roles_claim
        known = jwt.algorithms.get_default_algorithms()
        algorithms = []
        for alg in settings.jwt_algorithms:
            if alg.lower() == "none" or alg not in known:
                raise ConfigError(
                    f"METASTORE_JWT_ALGORITHMS: {alg!r} is not accepted; use some of "
                    f"{sorted(a for a in known if a != 'none')}"
                )
            if alg.startswith("HS") and not self._secret:
                raise ConfigError(f"METASTORE_JWT_ALGORITHMS: {alg} needs METASTORE_JWT_HS256_SECRET")
            algorithms.append(alg)
        if self._secret and "HS256" not in algorithms:
            algorithms.append("HS256")
        if self._secret and len(self._secret) < 32:
            _log.warning("METASTORE_JWT_HS256_SECRET is shorter than 32 bytes; anyone who guesses it can log in")
        self.algorithms = tuple(algorithms)
        self._keys = [self._load_key(i, pem) for i, pem in enumerate(settings.jwt_public_keys)]
        self._jwks = jwks_client
        if self._jwks is None and settings.jwt_jwks_url:
            self._jwks = jwt.PyJWKClient(
                settings.jwt_jwks_url, cache_keys=True, cache_jwk_set=True, lifespan=300, timeout=10
            )
        if self._open:
            _log.warning(
                "AUTHENTICATION IS OFF (METASTORE_AUTH_OPEN=true): every request acts as %r with roles %s",
                ANONYMOUS,
                list(self._open_roles),
            )

    @staticmethod
    def _load_key(index: int, pem: str) -> Any:
        try:
            data = pem.strip().encode()
            if b"CERTIFICATE" in data:
                return x509.load_pem_x509_certificate(data).public_key()
            return load_pem_public_key(data)
        except ValueError as exc:
            raise ConfigError(
                f"METASTORE_JWT_PUBLIC_KEYS[{index}] is not a PEM public key or certificate: {exc}"
            ) from exc

    @property
    def open(self) -> bool:
        return self._open

    # --- entry point ------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None, *, request_id: str = "", remote: str = "") -> Identity:
        """The identity behind an ``Authorization`` header; NotAuthenticated (audited) if none."""
        try:
            return self._authenticate(authorization)
        except NotAuthenticated as exc:
            log_auth_failure(exc, request_id=request_id, remote=remote, authorization=authorization)
            raise

    def _authenticate(self, authorization: str | None) -> Identity:
        if self._open:
            return Identity(ANONYMOUS, self._open_roles, method="open")
        if not authorization or not authorization.strip():
            raise _fail("missing", "no credentials: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            raise _fail("unsupported_scheme", f"authorization scheme {scheme!r} is not accepted; use 'Bearer <token>'")
        if not token or token.lower() == "none":
            raise _fail("missing", "no token: this server requires a bearer token (it is not in open mode)")
        identity = self._static_token(token)
        if identity is not None:
            return identity
        if token.count(".") == 2:
            return self._jwt(token)
        raise _fail("unknown_token", "unknown API token")

    def _static_token(self, token: str) -> Identity | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        # Compare against every configured hash so timing says nothing about which one matched.
        for expected, configured in self._tokens:
            if hmac.compare_digest(digest, expected):
                found = configured
        if found is None:
            return None
        return Identity(found.username, tuple(found.roles), found.email, {}, method="token")

    # --- JWT ----------------------------------------------------------------------------------

    def _jwt(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _fail("malformed", f"malformed bearer token: {exc}") from exc
        alg = str(header.get("alg", ""))
        if alg not in self.algorithms:
            raise _fail(
                "unsupported_algorithm",
                f"token algorithm {alg!r} is not accepted; accepted: {', '.join(self.algorithms) or 'none'}",
            )
        claims = self._verify(token, alg, self._candidate_keys(token, alg))
        username = _claim(claims, self._username_claim) or claims.get("sub")
        if not isinstance(username, str) or not username:
            raise _fail("no_username", f"token has no {self._username_claim!r} or 'sub' claim")
        email = claims.get("email")
        return Identity(
            username=username,
            roles=_roles(_claim(claims, self._roles_claim)),
            email=email if isinstance(email, str) else "",
            claims=claims,
            method="jwt",
        )

    def _candidate_keys(self, token: str, alg: str) -> list[Any]:
        if alg.startswith("HS"):
            return [self._secret]
        types = _KEY_TYPES.get(alg[:2], ())
        keys = [k for k in self._keys if isinstance(k, types)]
        if self._jwks is not None:
            try:
                keys.insert(0, self._jwks.get_signing_key_from_jwt(token).key)
            except jwt.PyJWKClientConnectionError as exc:
                raise BackendUnavailable(f"could not fetch the signing keys (JWKS): {exc}") from exc
            except jwt.PyJWTError as exc:
                if not keys:
                    raise _fail("unknown_key", f"no signing key matches the token: {exc}") from exc
        if not keys:
            raise _fail("unknown_key", f"no key is configured for algorithm {alg}")
        return keys

    def _verify(self, token: str, alg: str, keys: list[Any]) -> dict[str, Any]:
        """Decode with each candidate key; the first good signature decides (and its claim errors)."""
        options: dict[str, Any] = {
            "require": ["exp"],
            "verify_aud": self._audience is not None,
            "verify_iss": self._issuer is not None,
        }
        for key in keys:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    options=options,  # type: ignore[arg-type]
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                )
            except (jwt.InvalidSignatureError, jwt.InvalidKeyError):
                continue
            except jwt.ExpiredSignatureError as exc:
                raise _fail("expired", "token expired; log in again") from exc
            except jwt.ImmatureSignatureError as exc:
                raise _fail("not_yet_valid", f"token is not valid yet ({exc})") from exc
            except jwt.InvalidIssuerError as exc:
                raise _fail("wrong_issuer", f"token issuer is not {self._issuer!r}") from exc
            except jwt.InvalidAudienceError as exc:
                raise _fail("wrong_audience", f"token audience does not include {self._audience!r}") from exc
            except jwt.MissingRequiredClaimError as exc:
                raise _fail("missing_claim", f"token lacks the required claim {exc.claim!r}") from exc
            except jwt.PyJWTError as exc:
                raise _fail("malformed", f"invalid bearer token: {exc}") from exc
        raise _fail("bad_signature", "token signature does not verify against any configured key")


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path (``realm_access.roles``); a literal key with dots wins."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _roles(value: Any) -> tuple[str, ...]:
    """Roles from a claim: a list, or one comma-separated string (labels may contain spaces)."""
    if isinstance(value, str):
        return tuple(r.strip() for r in value.split(",") if r.strip())
    if isinstance(value, list | tuple):
        return tuple(str(r) for r in value if isinstance(r, str | int) and str(r))
    return ()


def _claimed_user(authorization: str | None) -> str:
    """The user a failed JWT claims to be (unverified, for the audit trail only), else ``-``."""
    if not authorization:
        return "-"
    token = authorization.strip().partition(" ")[2].strip()
    if token.count(".") != 2:
        return "-"
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return "-"
    user = claims.get("preferred_username") or claims.get("sub")
    return f"{user}(unverified)" if isinstance(user, str) and user else "-"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def log_auth_failure(
    error: NotAuthenticated,
    *,
    user: str | None = None,
    request_id: str = "",
    remote: str = "",
    authorization: str | None = None,
) -> None:
    """Write one audit line for a refused request to the ``azul_metastore.audit`` logger.

    Never logs the credential itself; ``user`` defaults to what an unverifiable token claims.
    The fields are also attached as ``record.audit`` for structured handlers.
    """
    fields = {
        "event": "auth_failure",
        "user": user or _claimed_user(authorization),
        "request_id": request_id or "-",
        "remote": remote or "-",
        "reason": str(error.parameters.get("reason", "unknown")),
        "detail": error.message,
    }
    _audit.warning(" ".join(f"{k}={_quote(v)}" for k, v in fields.items()), extra={"audit": fields})
