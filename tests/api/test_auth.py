"""Authentication and access over real HTTP: RSA-signed JWTs and a static API token against a
non-open server, ``Bearer none`` against an open one, the x/i filters, the "me" and security routes,
and the audit trail."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from azul_metastore.api import app as api_app
from azul_metastore.api.auth import AccessCache, AdminAccess, CallerAccess
from azul_metastore.api.envelope import enveloped
from azul_metastore.app import Services, build_services
from azul_metastore.audit import audit
from azul_metastore.errors import NotAuthenticated
from azul_metastore.security import AUDIT_LOGGER, Access
from azul_metastore.server import configure_logging
from azul_metastore.settings import ApiToken, Settings
from tests.conftest import TEST_SOURCES
from tests.support.security import security_policy, security_settings
from tests.support.server import running_server

ISSUER = "https://idp.example/realms/azul"
AUDIENCE = "azul-metastore"
SERVICE_TOKEN = "svc-" + "7" * 40
SHA = "a" * 64

# --- keys, tokens and a non-open server -----------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def forger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def token(key: Any, algorithm: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "0f3c-alice", "preferred_username": "alice", "email": "alice@example.org",
        "roles": ["LOW", "MEDIUM", "REL:APPLE", "plugin"],
        "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 300,
    }
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# A probe router added beside the real ones, so the x/i and admin dependencies are tested exactly
# as routes will use them.
probe = APIRouter()


@probe.get("/access")
def probe_access(caller: CallerAccess) -> Any:
    return enveloped({"labels": sorted(caller.labels), "exclude": sorted(caller.exclude),
                      "include": sorted(caller.include)}, caller)


@probe.get("/admin")
def probe_admin(caller: AdminAccess) -> Any:
    return enveloped({"admin": caller.admin}, caller)


def secure_settings(data_dir: Path, key: rsa.RSAPrivateKey, **overrides: Any) -> Settings:
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    values: dict[str, Any] = {
        "data_dir": data_dir, "sources": TEST_SOURCES, "jwt_public_keys": [pem],
        "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE,
        "api_tokens": [ApiToken(sha256=hashlib.sha256(SERVICE_TOKEN.encode()).hexdigest(), username="plugin-bot",
                                roles=["plugin"])],
    }
    values.update(overrides)
    return security_settings(**values)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> Iterator[tuple[str, Services]]:
    """A non-open server with the test label vocabulary (minimum access LOW), plus the probe routes."""
    svc = build_services(secure_settings(tmp_path_factory.mktemp("secure"), rsa_key))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api_app, "ROUTERS", [*api_app.ROUTERS, (probe, "/probe")])
        with running_server(svc) as url:
            yield url, svc
    svc.close()


@pytest.fixture
def secure_url(secure: tuple[str, Services]) -> str:
    return secure[0]


@pytest.fixture
def alice(rsa_key: rsa.RSAPrivateKey) -> dict[str, str]:
    return bearer(token(rsa_key))


# --- valid credentials ----------------------------------------------------------------------------


def test_valid_jwt_reaches_events_streams_and_me(secure_url: str, alice: dict[str, str]) -> None:
    resp = httpx.get(f"{secure_url}/api/v2/event/binary/passive", params={"name": "t", "deadline": 0},
                     headers=alice, timeout=30)
    assert resp.status_code == 200, resp.text
    resp = httpx.post(f"{secure_url}/api/v3/stream/samples/content", content=b"jwt bytes", headers=alice)
    assert resp.status_code == 200, resp.text
    sha = resp.json()["sha256"]
    got = httpx.get(f"{secure_url}/api/v3/stream/samples/content/{sha}", headers=alice)
    assert got.status_code == 200 and got.content == b"jwt bytes"
    me = httpx.get(f"{secure_url}/api/v0/users/me", headers=alice)
    assert me.status_code == 200
    assert me.json()["username"] == "alice" and me.json()["unique_id"] == "0f3c-alice"


def test_static_api_token_is_a_plugin(secure_url: str) -> None:
    headers = bearer(SERVICE_TOKEN)
    resp = httpx.get(f"{secure_url}/api/v2/event/binary/passive", params={"name": "t", "deadline": 0},
                     headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    resp = httpx.post(f"{secure_url}/api/v3/stream/samples/content", content=b"token bytes", headers=headers)
    assert resp.status_code == 200, resp.text
    me = httpx.get(f"{secure_url}/api/v0/users/me", headers=headers).json()
    assert me["username"] == "plugin-bot" and me["roles"] == ["plugin"] and me["decoded"] is None


# --- refused credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "bad_signature"),
        ("expired", "expired"),
        ("wrong_issuer", "wrong_issuer"),
        ("wrong_audience", "wrong_audience"),
        ("alg_none", "unsupported_algorithm"),
        ("unknown_token", "unknown_token"),
        ("basic", "unsupported_scheme"),
        ("bearer_none", "missing"),
        ("no_header", "missing"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v0/users/me", "/api/v2/event/binary/passive?name=t&deadline=0",
                                  f"/api/v3/stream/samples/content/{SHA}", "/probe/access"])
def test_bad_credentials_are_401_with_a_challenge(
    secure_url: str, rsa_key: rsa.RSAPrivateKey, forger_key: rsa.RSAPrivateKey, case: str, reason: str, path: str,
) -> None:
    now = int(time.time())
    headers = {
        "forged": bearer(token(forger_key)),
        "expired": bearer(token(rsa_key, iat=now - 3600, nbf=now - 3600, exp=now - 600)),
        "wrong_issuer": bearer(token(rsa_key, iss="https://evil.example")),
        "wrong_audience": bearer(token(rsa_key, aud="someone-else")),
        "alg_none": bearer(token(None, algorithm="none")),
        "unknown_token": bearer("not-a-configured-token"),
        "basic": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        "bearer_none": bearer("none"),
        "no_header": {},
    }[case]
    resp = httpx.get(secure_url + path, headers={**headers, "x-request-id": f"req-{case}"}, timeout=30)
    assert resp.status_code == 401, resp.text
    assert resp.headers["www-authenticate"].startswith("Bearer")
    body = resp.json()
    assert body["detail"]["internal"] == "NotAuthenticated" and body["ref"] == f"req-{case}"
    assert body["detail"]["parameters"]["reason"] == reason


def test_refusals_are_audited_with_the_request_id(secure_url: str, forger_key: rsa.RSAPrivateKey,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        resp = httpx.get(f"{secure_url}/api/v0/users/me", headers={**bearer(token(forger_key)),
                                                                   "x-request-id": "req-forged-audit"})
    assert resp.status_code == 401
    lines = [r for r in caplog.records if r.name == AUDIT_LOGGER and "req-forged-audit" in r.getMessage()]
    assert len(lines) == 1
    fields = lines[0].audit  # type: ignore[attr-defined]
    assert fields["event"] == "auth_failure" and fields["reason"] == "bad_signature"
    assert fields["user"] == "alice(unverified)"
    assert resp.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_missing_credentials_challenge_has_no_error(secure_url: str) -> None:
    resp = httpx.get(f"{secure_url}/api/v0/users/me")
    assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"


def test_valid_token_below_minimum_access_is_401(secure_url: str, rsa_key: rsa.RSAPrivateKey) -> None:
    headers = bearer(token(rsa_key, roles=["MEDIUM", "REL:APPLE"]))  # lacks LOW, the minimum
    for path in ("/api/v0/users/me/opensearch", "/probe/access"):
        resp = httpx.get(secure_url + path, headers=headers)
        assert resp.status_code == 401, resp.text
        assert resp.json()["detail"]["parameters"]["reason"] == "below_minimum_access"
        assert resp.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'
    # who they are is still answered: that is how a user finds out which roles they have
    assert httpx.get(f"{secure_url}/api/v0/users/me", headers=headers).status_code == 200


def test_service_apis_need_a_service_role(secure_url: str, rsa_key: rsa.RSAPrivateKey) -> None:
    headers = bearer(token(rsa_key, roles=["LOW", "MEDIUM", "REL:APPLE"]))  # a user, not a plugin
    stream = f"/api/v3/stream/samples/content/{SHA}"
    for method, path in [("GET", "/api/v2/event/binary/passive?name=t&deadline=0"),
                         ("POST", "/api/v2/event?model=binary"), ("POST", "/api/v3/stream/samples/content"),
                         ("GET", stream), ("HEAD", stream), ("DELETE", stream),
                         ("PATCH", f"/api/v3/stream/samples/virustotal/content/{SHA}")]:
        resp = httpx.request(method, secure_url + path, headers=headers, content=b"[]")
        assert resp.status_code == 403, (method, path, resp.text)
        if method != "HEAD":
            assert "auth_service_roles".upper() in resp.json()["message"].upper()
    assert httpx.get(f"{secure_url}/api/v0/users/me", headers=headers).status_code == 200


def test_a_username_holding_a_role_name_never_shares_an_admins_access(secure_url: str,
                                                                       rsa_key: rsa.RSAPrivateKey) -> None:
    """Accesses are cached per identity for a minute: the key joined the username and roles with
    newlines, so user "bob\nadmin" without roles took the access of user bob with role admin."""
    admin = bearer(token(rsa_key, preferred_username="bob", roles=["LOW", "admin"]))
    impostor = bearer(token(rsa_key, preferred_username="bob\nadmin", roles=["LOW"]))
    assert httpx.get(f"{secure_url}/probe/admin", headers=admin).status_code == 200
    assert httpx.get(f"{secure_url}/probe/admin", headers=impostor).status_code == 403
    roles_only = bearer(token(rsa_key, preferred_username="bob", roles=["LOW\nadmin"]))
    assert httpx.get(f"{secure_url}/probe/admin", headers=roles_only).status_code in (401, 403)


def test_admin_routes_need_an_admin_role(secure_url: str, rsa_key: rsa.RSAPrivateKey, alice: dict[str, str]) -> None:
    resp = httpx.get(f"{secure_url}/probe/admin", headers=alice)
    assert resp.status_code == 403 and resp.json()["detail"]["internal"] == "Forbidden"
    admin = bearer(token(rsa_key, preferred_username="root", roles=["LOW", "admin"]))
    resp = httpx.get(f"{secure_url}/probe/admin", headers=admin)
    assert resp.status_code == 200 and resp.json()["data"] == {"admin": True}
    assert httpx.get(f"{secure_url}/api/v0/security/is_admin", headers=admin).json() is True
    assert httpx.get(f"{secure_url}/api/v0/security/is_admin", headers=alice).json() is False


# --- x / i filters --------------------------------------------------------------------------------


def test_x_and_i_filters(secure_url: str, alice: dict[str, str]) -> None:
    resp = httpx.get(f"{secure_url}/probe/access", headers=alice)
    assert resp.status_code == 200
    assert resp.json()["meta"] == {"security": "MEDIUM REL:APPLEO", "sec_filter": None}
    assert resp.headers["x-azul-security"] == "MEDIUM REL:APPLEO"
    resp = httpx.get(f"{secure_url}/probe/access", params={"x": ["medium"]}, headers=alice)
    assert resp.json()["data"]["exclude"] == ["MEDIUM"] and resp.json()["meta"]["sec_filter"] == "OR"
    assert resp.json()["meta"]["security"] == "LOW TLP:AMBER"
    resp = httpx.get(f"{secure_url}/probe/access", params={"i": ["REL:APPLE"], "x": ["TLP:CLEAR"]}, headers=alice)
    assert resp.json()["data"]["include"] == ["REL:APPLE"] and resp.json()["meta"]["sec_filter"] == "AND"


@pytest.mark.parametrize("params", [{"x": "ORANGE"}, {"i": "LOW"}, {"i": "REL:NOPE"}])
def test_invalid_filter_labels_are_422(secure_url: str, alice: dict[str, str], params: dict[str, str]) -> None:
    resp = httpx.get(f"{secure_url}/probe/access", params=params, headers=alice)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]["internal"] == "InvalidSecurity" and "accepted" in resp.json()["message"]


def test_opensearch_me_ignores_filters(secure_url: str, alice: dict[str, str]) -> None:
    plain = httpx.get(f"{secure_url}/api/v0/users/me/opensearch", headers=alice).json()
    filtered = httpx.get(f"{secure_url}/api/v0/users/me/opensearch", params={"x": "MEDIUM"}, headers=alice)
    assert filtered.status_code == 200 and filtered.json() == plain


# --- the shapes azul-client validates -------------------------------------------------------------
# Strict copies of azul-bedrock 13.0.81's models (models_auth.UserInfo, restapi_security.UserAccess):
# the real ones ignore extra keys, but an extra key is still a bug, so these forbid them.


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserInfo(_Strict):
    username: str = "unknown"
    org: str = "unknown"
    roles: list[str] = []
    api_access: list[str] = []
    email: str | None = None
    credentials: dict | None = None
    decoded: dict | None = None
    unique_id: str


class UserSecurity(_Strict):
    labels: list[str] = []
    labels_inclusive: list[str] = []
    labels_exclusive: list[str] = []
    labels_markings: list[str] = []
    unique: str = ""
    max_access: str = ""
    max_access_display: str = ""
    allowed_presets: list[str] = []


class UserAccess(_Strict):
    account_info: dict = {}
    security_enabled: bool = False
    privileged: bool = False
    roles: list[str] = []
    security: UserSecurity


def test_me_shapes(secure_url: str, alice: dict[str, str]) -> None:
    me = UserInfo.model_validate(httpx.get(f"{secure_url}/api/v0/users/me", headers=alice).json())
    assert me.roles == ["LOW", "MEDIUM", "REL:APPLE", "plugin"] and me.email == "alice@example.org"
    assert me.api_access == ["all"] and me.credentials is None and me.decoded and me.decoded["iss"] == ISSUER
    resp = httpx.get(f"{secure_url}/api/v0/users/me/opensearch", headers=alice)
    ua = UserAccess.model_validate(resp.json())
    assert ua.security.max_access == "MEDIUM REL:APPLE" and ua.security.max_access_display == "MEDIUM REL:APPLEO"
    assert ua.security.labels_inclusive == ["REL:APPLE"] and not ua.privileged
    assert resp.headers["x-azul-security"] == "MEDIUM REL:APPLEO"


# --- security routes ------------------------------------------------------------------------------


def test_security_settings(secure_url: str, alice: dict[str, str]) -> None:
    got = httpx.get(f"{secure_url}/api/v0/security", headers=alice).json()
    assert got["default"] == "LOW" and got["admin_roles"] == ["admin"]
    assert got["presets"] == ["LOW TLP:CLEAR", "HIGH", "MEDIUM REL:APPLE,BEE", "MEDIUM REL:APPLE,BEE,CAR",
                              "TOP HIGH REL:APPLE,BEE,CAR"]
    assert got["allow_releasability_priority_gte"] == 30 and got["minimum_required_access"] == ["LOW"]
    assert got["labels"]["classification"]["options"][0] == {"name": "LOW", "priority": 10}
    assert got["labels"]["tlp"]["options"][-1] == {"name": "TLP:AMBER+STRICT", "priority": 0, "enforce_security": True}
    assert got["labels"]["releasability"]["origin_alt_name"] == "APPLEO"


@pytest.mark.parametrize(("security", "expected"), [
    ("loW MoD1", "LOW MOD1"), ("LOW TLP:AMBER+STRICT", "LOW TLP:AMBER+STRICT"), ("LOW MEDIUM MOD1", "MEDIUM MOD1"),
    ("MEDIUM MOD2 REL:APPLE REL:BEE MOD1", "MEDIUM MOD1 MOD2 REL:APPLE,BEE"), (" medium\\HIGH//low  ", "HIGH"),
])
def test_normalise(secure_url: str, alice: dict[str, str], security: str, expected: str) -> None:
    resp = httpx.post(f"{secure_url}/api/v1/security/normalise", json={"security": security}, headers=alice)
    assert resp.status_code == 200 and resp.json() == expected


@pytest.mark.parametrize("security", ["LOW REL:APPLE", "", "ORANGE SODA"])
def test_normalise_rejects(secure_url: str, alice: dict[str, str], security: str) -> None:
    resp = httpx.post(f"{secure_url}/api/v1/security/normalise", json={"security": security}, headers=alice)
    assert resp.status_code == 400, resp.text


def test_max(secure_url: str, alice: dict[str, str]) -> None:
    resp = httpx.post(f"{secure_url}/api/v1/security/max", json=["low MOD1", "MEdiuM"], headers=alice)
    assert resp.status_code == 200 and resp.json() == "MEDIUM MOD1"
    resp = httpx.post(f"{secure_url}/api/v1/security/max", json=["MEDIUM REL:APPLE,BEE", "HIGH REL:APPLE"],
                      headers=alice)
    assert resp.json() == "HIGH REL:APPLE"
    for bad in (["ORANGE", "SODA"], ["LOW REL:APPLE", "LOW REL:BEE"], [], [""], ["", ""]):
        resp = httpx.post(f"{secure_url}/api/v1/security/max", json=bad, headers=alice)
        assert resp.status_code == 400, (bad, resp.text)


def test_security_routes_need_a_token(secure_url: str) -> None:
    assert httpx.get(f"{secure_url}/api/v0/security").status_code == 401
    assert httpx.post(f"{secure_url}/api/v1/security/max", json=["LOW"]).status_code == 401


# --- open mode ------------------------------------------------------------------------------------


def test_open_mode_accepts_bearer_none_and_nothing(server: str) -> None:
    for headers in (bearer("none"), {}):
        me = httpx.get(f"{server}/api/v0/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["username"] == "anonymous"
        resp = httpx.get(f"{server}/api/v2/event/binary/passive", params={"name": "t", "deadline": 0},
                         headers=headers, timeout=30)
        assert resp.status_code == 200
        assert httpx.get(f"{server}/api/v0/security/is_admin", headers=headers).json() is True
    UserAccess.model_validate(httpx.get(f"{server}/api/v0/users/me/opensearch", headers=bearer("none")).json())


# --- audit ------------------------------------------------------------------------------------------


def test_stream_actions_are_audited(secure_url: str, caplog: pytest.LogCaptureFixture) -> None:
    headers = {**bearer(SERVICE_TOKEN), "x-request-id": "req-stream-audit"}
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        sha = httpx.post(f"{secure_url}/api/v3/stream/samples/content", content=b"audited", headers=headers).json()
        httpx.get(f"{secure_url}/api/v3/stream/samples/content/{sha['sha256']}", headers=headers)
        httpx.patch(f"{secure_url}/api/v3/stream/samples/virustotal/content/{sha['sha256']}", headers=headers)
        httpx.delete(f"{secure_url}/api/v3/stream/samples/content/{sha['sha256']}", headers=headers)
    events = [r.audit for r in caplog.records  # type: ignore[attr-defined]
              if r.name == AUDIT_LOGGER and getattr(r, "audit", {}).get("request_id") == "req-stream-audit"]
    assert [e["event"] for e in events] == ["stream_upload", "stream_download", "stream_copy", "stream_delete"]
    assert all(e["user"] == "plugin-bot" and e["sha256"] == sha["sha256"] for e in events)
    assert events[0]["size"] == "7" and events[3]["deleted"] == "True"


def test_audit_lines_are_one_line_each(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=AUDIT_LOGGER):
        audit("binary_download", user="bob", request_id="r1", filename='evil"\nevent="forged', refs=["a", "b"],
              missing=None)
    (record,) = [r for r in caplog.records if r.name == AUDIT_LOGGER]
    assert record.getMessage() == ('event="binary_download" user="bob" request_id="r1" '
                                   'filename="evil\\" event=\\"forged" refs="a,b" missing="-"')


def test_audit_log_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    logger = logging.getLogger(AUDIT_LOGGER)
    before = list(logger.handlers)
    try:
        configure_logging(Settings(data_dir=tmp_path, audit_log_file_path=str(path)))
        configure_logging(Settings(data_dir=tmp_path, audit_log_file_path=str(path)))  # no second handler
        added = [h for h in logger.handlers if h not in before]
        assert len(added) == 1
        audit("purge", user="root", request_id="r2", track_link="x")
        added[0].flush()
        line = path.read_text().strip()
        assert line.startswith("time=") and line.endswith('event="purge" user="root" request_id="r2" track_link="x"')
    finally:
        for handler in [h for h in logger.handlers if h not in before]:
            logger.removeHandler(handler)
            handler.close()


# --- the access cache -------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_access_cache_expires_and_does_not_cache_errors() -> None:
    clock = _Clock()
    cache = AccessCache(ttl=60, max_entries=3, clock=clock)
    policy = security_policy()
    built: list[str] = []

    def build(name: str, roles: list[str]) -> Access:
        built.append(name)
        return Access.for_user(policy, name, roles)

    first = cache.get(("u", (), ()), lambda: build("u", ["LOW"]))
    assert cache.get(("u", (), ()), lambda: build("u", ["LOW"])) is first and built == ["u"]
    clock.now = 61
    assert cache.get(("u", (), ()), lambda: build("u", ["LOW"])) is not first and built == ["u", "u"]
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            cache.get(("v", (), ()), lambda: build("v", []))
    assert built.count("v") == 2
    for n in range(5):
        cache.get((f"w{n}", (), ()), lambda n=n: build(f"w{n}", ["LOW"]))
    assert len(cache) <= 3


def test_cache_key_holds_the_roles(secure_url: str, rsa_key: rsa.RSAPrivateKey) -> None:
    """The same user with other roles in a new token is never served the old access."""
    low = httpx.get(f"{secure_url}/probe/access", headers=bearer(token(rsa_key, roles=["LOW"]))).json()
    high = httpx.get(f"{secure_url}/probe/access", headers=bearer(token(rsa_key, roles=["LOW", "HIGH"]))).json()
    assert "HIGH" not in low["data"]["labels"] and "HIGH" in high["data"]["labels"]

