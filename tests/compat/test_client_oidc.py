"""azul-client logging in through OIDC, end to end: the real client, our server, a fake provider.

Why: deployments put Keycloak (or another OIDC provider) in front of Azul. Users run the client with
a token stored in ``~/.azul.ini`` and services with ``auth_type = service`` (client credentials). Our
server must accept exactly the tokens that provider signs - verified against its JWKS, with its
issuer and audience - and the client must work unchanged. The provider here is
:class:`tests.support.fake_oidc.FakeOidcProvider`, used only by tests.

The client reads its config from ``$HOME/.azul.ini`` (``azul_client.config.get_config``): ``oidc_url``
is the discovery document itself; a stored ``auth_token`` younger than 60 s (``auth_token_time``) is
sent as it is; otherwise ``auth_type = service`` posts ``grant_type=client_credentials`` with
``auth_client_id``/``auth_client_secret`` to the discovered ``token_endpoint`` and saves the answer
back to the ini.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from azul_metastore.app import build_services
from tests.conftest import TEST_SOURCES
from tests.support.fake_oidc import FakeOidcProvider
from tests.support.security import security_settings
from tests.support.server import running_server

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("client_oidc_driver.py")
CLIENT_ID = "azul-service"
SECRET = "the-right-secret"  # a fake provider's test credential
ROLES = ["LOW", "MEDIUM", "REL:APPLE"]


@dataclass
class Deployment:
    url: str
    idp: FakeOidcProvider


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Our server trusting only the fake provider's JWKS, issuer and audience."""
    with FakeOidcProvider({CLIENT_ID: (SECRET, ROLES)}) as idp:
        settings = security_settings(data_dir=tmp_path_factory.mktemp("oidc") / "data", sources=TEST_SOURCES,
                                     jwt_jwks_url=idp.jwks_url, jwt_issuer=idp.issuer, jwt_audience=idp.audience)
        svc = build_services(settings)
        try:
            with running_server(svc) as url:
                yield Deployment(url, idp)
        finally:
            svc.close()


def write_ini(home: Path, dep: Deployment, **values: Any) -> Path:
    """``~/.azul.ini`` as ``azul config`` saves it (the token as a JSON string)."""
    section = {"azul_url": dep.url, "oidc_url": dep.idp.discovery_url, "auth_type": "service",
               "auth_client_id": CLIENT_ID, "auth_client_secret": SECRET, "auth_scopes": "openid",
               "auth_token": "{}", "auth_token_time": "0", "azul_verify_ssl": "True"}
    section.update({k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in values.items()})
    cfg = configparser.ConfigParser()
    cfg["default"] = section
    path = home / ".azul.ini"
    with path.open("w") as f:
        cfg.write(f)
    return path


def run_client(python: str, home: Path, tag: str) -> dict[str, Any]:
    out = home / "report.json"
    proc = subprocess.run([python, str(DRIVER), str(out), tag], capture_output=True, text=True, timeout=120,
                          cwd=home, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def check_round_trip(report: dict[str, Any], username: str) -> None:
    assert "error" not in report, report["error"]
    assert report["username"] == username
    assert report["uploaded"] in report["found"]
    assert report["meta_refs"] == [report["tag"]] and report["meta_security"] == ["MEDIUM REL:APPLE"]


def test_a_stored_token_is_used_without_logging_in(compat_python: str, deployment: Deployment,
                                                   tmp_path: Path) -> None:
    token = deployment.idp.mint("stored-user", ROLES)
    # a wrong secret in the ini: if the client ignored the stored token, logging in would fail
    write_ini(tmp_path, deployment, auth_client_secret="not-the-secret", auth_token={"access_token": token},
              auth_token_time=int(time.time()))
    before = deployment.idp.token_requests
    check_round_trip(run_client(compat_python, tmp_path, "stored"), "stored-user")
    assert deployment.idp.token_requests == before


def test_auth_type_service_logs_in_with_client_credentials(compat_python: str, deployment: Deployment,
                                                          tmp_path: Path) -> None:
    ini = write_ini(tmp_path, deployment)
    before = deployment.idp.token_requests
    check_round_trip(run_client(compat_python, tmp_path, "service"), f"service-account-{CLIENT_ID}")
    assert deployment.idp.token_requests == before + 1  # one login, then the saved token is reused
    cfg = configparser.ConfigParser()
    cfg.read(ini)
    saved = json.loads(cfg["default"]["auth_token"])["access_token"]
    claims = jwt.decode(saved, options={"verify_signature": False})
    assert claims["iss"] == deployment.idp.issuer and claims["aud"] == deployment.idp.audience
    assert claims["roles"] == ROLES and claims["exp"] > time.time()


def test_a_wrong_client_secret_fails(compat_python: str, deployment: Deployment, tmp_path: Path) -> None:
    write_ini(tmp_path, deployment, auth_client_secret="not-the-secret")
    before = deployment.idp.token_requests
    report = run_client(compat_python, tmp_path, "wrong")
    assert deployment.idp.token_requests == before + 1
    assert "error" in report and "401" in report["error"] and "uploaded" not in report


@pytest.mark.parametrize("claims", [{"aud": "someone-else"}, {"iss": "http://127.0.0.1:1/realms/other"}])
def test_the_server_refuses_the_providers_tokens_for_another_audience_or_issuer(deployment: Deployment,
                                                                               claims: dict[str, str]) -> None:
    """The signature alone is not enough: a token the same provider signed for another party is refused."""
    good = deployment.idp.mint("someone", ROLES)
    bad = deployment.idp.mint("someone", ROLES, **claims)
    me = f"{deployment.url}/api/v0/users/me"
    assert httpx.get(me, headers={"authorization": f"Bearer {good}"}, timeout=30).status_code == 200
    assert httpx.get(me, headers={"authorization": f"Bearer {bad}"}, timeout=30).status_code == 401
