"""Authentication: JWT (PEM keys and JWKS), static API tokens, open mode, audit lines."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from azul_metastore.errors import BackendUnavailable, ConfigError, NotAuthenticated
from azul_metastore.security import AUDIT_LOGGER, Authenticator, Identity
from azul_metastore.settings import ApiToken, Settings

ISSUER = "https://idp.example/realms/azul"
AUDIENCE = "azul-metastore"
SECRET = "s" * 40


def _public_pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, "jwt_leeway_seconds": 30}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def auth(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> Authenticator:
    return Authenticator(_settings(jwt_public_keys=[_public_pem(rsa_key), _public_pem(ec_key)]))


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "0f3c",
        "preferred_username": "alice",
        "email": "alice@example.org",
        "roles": ["LOW", "MEDIUM", "REL:APPLE"],
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: Any, alg: str = "RS256", headers: dict[str, Any] | None = None, **claims: Any) -> str:
    return jwt.encode(_claims(**claims), key, algorithm=alg, headers=headers)


def _reason(auth: Authenticator, header: str | None) -> str:
    with pytest.raises(NotAuthenticated) as info:
        auth.authenticate(header)
    assert info.value.status_code == 401
    return str(info.value.parameters["reason"])


# --- JWT --------------------------------------------------------------------------------------


def test_valid_rs256_token(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    identity = auth.authenticate("Bearer " + _token(rsa_key))
    assert identity.username == "alice"
    assert identity.roles == ("LOW", "MEDIUM", "REL:APPLE")
    assert identity.email == "alice@example.org"
    assert identity.method == "jwt"
    assert identity.claims["sub"] == "0f3c"
    assert len(identity.unique_id) == 32


def test_valid_es256_token_with_lowercase_scheme(auth: Authenticator, ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert auth.authenticate("bearer " + _token(ec_key, "ES256")).username == "alice"


def test_forged_signature(auth: Authenticator, other_rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(auth, "Bearer " + _token(other_rsa_key)) == "bad_signature"


def test_tampered_payload(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    header, _, signature = _token(rsa_key).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(_claims(roles=["admin"])).encode()).decode()
    assert _reason(auth, f"Bearer {header}.{forged}.{signature}") == "bad_signature"


def test_expired(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    assert _reason(auth, "Bearer " + _token(rsa_key, exp=now - 120, iat=now - 600, nbf=now - 600)) == "expired"


def test_clock_skew_within_leeway_is_accepted(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    assert auth.authenticate("Bearer " + _token(rsa_key, exp=now - 10, iat=now - 600, nbf=now - 600))
    assert auth.authenticate("Bearer " + _token(rsa_key, nbf=now + 10, iat=now))


def test_not_yet_valid(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    assert _reason(auth, "Bearer " + _token(rsa_key, nbf=now + 600, iat=now)) == "not_yet_valid"


def test_missing_exp(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(auth, "Bearer " + _token(rsa_key, exp=None)) == "missing_claim"


def test_wrong_issuer(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(auth, "Bearer " + _token(rsa_key, iss="https://evil.example")) == "wrong_issuer"
    assert _reason(auth, "Bearer " + _token(rsa_key, iss=None)) == "missing_claim"


def test_wrong_audience(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(auth, "Bearer " + _token(rsa_key, aud="someone-else")) == "wrong_audience"
    assert auth.authenticate("Bearer " + _token(rsa_key, aud=["someone-else", AUDIENCE]))


def test_issuer_and_audience_unchecked_when_not_configured(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(Settings(jwt_public_keys=[_public_pem(rsa_key)]))
    assert auth.authenticate("Bearer " + _token(rsa_key, iss="anyone", aud="anything")).username == "alice"


def test_alg_none_is_refused(auth: Authenticator) -> None:
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps(_claims()).encode()).decode()
    assert _reason(auth, f"Bearer {header}.{body}.") == "unsupported_algorithm"


def test_hs256_refused_without_secret(auth: Authenticator) -> None:
    assert _reason(auth, "Bearer " + _token(SECRET, "HS256")) == "unsupported_algorithm"


def test_hs256_with_configured_secret(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(_settings(jwt_hs256_secret=SECRET, jwt_public_keys=[_public_pem(rsa_key)]))
    assert "HS256" in auth.algorithms
    assert auth.authenticate("Bearer " + _token(SECRET, "HS256")).username == "alice"
    assert _reason(auth, "Bearer " + _token("x" * 40, "HS256")) == "bad_signature"
    assert auth.authenticate("Bearer " + _token(rsa_key)).username == "alice"


def test_algorithm_not_listed_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(_settings(jwt_public_keys=[_public_pem(rsa_key)], jwt_algorithms=["ES256"]))
    assert _reason(auth, "Bearer " + _token(rsa_key)) == "unsupported_algorithm"


def test_no_key_for_algorithm(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
    auth = Authenticator(_settings(jwt_public_keys=[_public_pem(rsa_key)]))
    assert _reason(auth, "Bearer " + _token(ec_key, "ES256")) == "unknown_key"


def test_malformed_token(auth: Authenticator) -> None:
    assert _reason(auth, "Bearer aaa.bbb.ccc") == "malformed"


def test_username_claim_fallback_and_dotted_roles(rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(_settings(jwt_public_keys=[_public_pem(rsa_key)], jwt_roles_claim="realm_access.roles"))
    token = _token(rsa_key, preferred_username=None, roles=None, realm_access={"roles": ["LOW", "admin"]})
    identity = auth.authenticate("Bearer " + token)
    assert identity.username == "0f3c"
    assert identity.roles == ("LOW", "admin")


def test_roles_as_comma_separated_string(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    identity = auth.authenticate("Bearer " + _token(rsa_key, roles="LOW, TOP HIGH"))
    assert identity.roles == ("LOW", "TOP HIGH")


def test_no_username(auth: Authenticator, rsa_key: rsa.RSAPrivateKey) -> None:
    assert _reason(auth, "Bearer " + _token(rsa_key, preferred_username=None, sub=None)) == "no_username"


def test_certificate_as_public_key(rsa_key: rsa.RSAPrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    assert Authenticator(_settings(jwt_public_keys=[pem])).authenticate("Bearer " + _token(rsa_key))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_algorithms": ["none"]}, "not accepted"),
        ({"jwt_algorithms": ["RS256", "HS256"]}, "JWT_HS256_SECRET"),
        ({"jwt_algorithms": ["XX999"]}, "not accepted"),
        ({"jwt_public_keys": ["-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"]}, "PUBLIC_KEYS\\[0\\]"),
    ],
)
def test_bad_configuration(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Authenticator(Settings(**overrides))


# --- JWKS -------------------------------------------------------------------------------------


class _Jwks:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.body = json.dumps({"keys": keys}).encode()
        self.requests = 0


@pytest.fixture
def jwks_server(rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[str, _Jwks]]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    state = _Jwks([{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_jwks_url(jwks_server: tuple[str, _Jwks], rsa_key: rsa.RSAPrivateKey) -> None:
    url, state = jwks_server
    auth = Authenticator(_settings(jwt_jwks_url=url))
    for _ in range(3):
        assert auth.authenticate("Bearer " + _token(rsa_key, headers={"kid": "k1"})).username == "alice"
    assert state.requests == 1  # the key set is cached


def test_jwks_unknown_kid_and_forgery(jwks_server: tuple[str, _Jwks], other_rsa_key: rsa.RSAPrivateKey) -> None:
    url, _ = jwks_server
    auth = Authenticator(_settings(jwt_jwks_url=url))
    assert _reason(auth, "Bearer " + _token(other_rsa_key, headers={"kid": "k9"})) == "unknown_key"
    assert _reason(auth, "Bearer " + _token(other_rsa_key, headers={"kid": "k1"})) == "bad_signature"


def test_jwks_unreachable_is_a_backend_error(rsa_key: rsa.RSAPrivateKey) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    auth = Authenticator(_settings(jwt_jwks_url=f"http://127.0.0.1:{port}/certs"))
    with pytest.raises(BackendUnavailable, match="JWKS"):
        auth.authenticate("Bearer " + _token(rsa_key, headers={"kid": "k1"}))


# --- static tokens, open mode, headers --------------------------------------------------------


def _token_settings(**overrides: Any) -> Settings:
    token = ApiToken(
        sha256=hashlib.sha256(b"tok-123").hexdigest(), username="robot", roles=["LOW", "admin"], email="r@x"
    )
    return Settings(api_tokens=[token], **overrides)


def test_static_token() -> None:
    identity = Authenticator(_token_settings()).authenticate("Bearer tok-123")
    assert identity == Identity("robot", ("LOW", "admin"), "r@x", {}, method="token")


def test_unknown_static_token() -> None:
    auth = Authenticator(_token_settings())
    assert _reason(auth, "Bearer tok-124") == "unknown_token"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer", "missing"),
        ("Bearer none", "missing"),
        ("Basic dXNlcjpwYXNz", "unsupported_scheme"),
    ],
)
def test_header_problems(header: str | None, reason: str) -> None:
    assert _reason(Authenticator(_token_settings()), header) == reason


@pytest.mark.parametrize("header", [None, "", "Bearer none", "Bearer tok-123", "Bearer garbage.x.y"])
def test_open_mode_is_anonymous(header: str | None, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        auth = Authenticator(_token_settings(auth_open=True, auth_open_roles=["LOW", "admin"]))
    assert "AUTHENTICATION IS OFF" in caplog.text
    assert auth.open
    identity = auth.authenticate(header)
    assert identity == Identity("anonymous", ("LOW", "admin"), method="open")


def test_failures_are_audited(
    auth: Authenticator, other_rsa_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    token = _token(other_rsa_key, preferred_username="mallory")
    with caplog.at_level(logging.WARNING, logger=AUDIT_LOGGER), pytest.raises(NotAuthenticated):
        auth.authenticate("Bearer " + token, request_id="req-7", remote="10.0.0.9")
    records = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert len(records) == 1
    line = records[0].getMessage()
    assert 'event="auth_failure"' in line
    assert 'user="mallory(unverified)"' in line
    assert 'request_id="req-7"' in line
    assert 'reason="bad_signature"' in line
    assert token not in line
    assert records[0].audit["remote"] == "10.0.0.9"  # type: ignore[attr-defined]
