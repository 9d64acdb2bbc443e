"""azul-client against our "me" and security routes: open mode (``Bearer none``) and a signed JWT.

The real client parses our answers with azul-bedrock's models (``UserInfo``, ``UserAccess``), and
the driver also checks that we send no key those models do not declare.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from azul_metastore.app import build_services
from tests.conftest import TEST_SOURCES
from tests.support.security import security_settings
from tests.support.server import running_server

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("client_auth_driver.py")


def run_client(python: str, url: str, token: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "report.json"
    proc = subprocess.run([python, str(DRIVER), url, token, str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def serve_and_run(python: str, tmp_path: Path, token: str, **settings: Any) -> dict[str, Any]:
    svc = build_services(security_settings(data_dir=tmp_path / "data", sources=TEST_SOURCES, **settings))
    try:
        with running_server(svc) as url:
            return run_client(python, url, token, tmp_path)
    finally:
        svc.close()


def check_common(report: dict[str, Any]) -> None:
    assert report["extra"] == []
    assert report["user_access_x"] == report["user_access"]
    assert report["settings"]["presets"][0] == "LOW TLP:CLEAR" and report["settings"]["default"] == "LOW"
    assert report["normalised"] == "MEDIUM REL:APPLE"
    assert report["max"] == "MEDIUM REL:APPLE"


def test_client_in_open_mode(compat_python: str, tmp_path: Path) -> None:
    report = serve_and_run(compat_python, tmp_path, "none", auth_open=True)
    check_common(report)
    assert report["user_info"]["username"] == "anonymous" and report["user_info"]["unique_id"]
    assert report["user_access"]["privileged"] is True and report["is_admin"] is True


def test_client_with_a_jwt(compat_python: str, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    now = int(time.time())
    token = jwt.encode({"sub": "s-1", "preferred_username": "med", "roles": ["LOW", "MEDIUM", "REL:APPLE"],
                        "iat": now, "exp": now + 300}, key, algorithm="RS256")
    report = serve_and_run(compat_python, tmp_path, token, jwt_public_keys=[pem])
    check_common(report)
    assert report["user_info"]["username"] == "med" and report["user_info"]["unique_id"] == "s-1"
    security = report["user_access"]["security"]
    assert security["max_access"] == "MEDIUM REL:APPLE" and security["max_access_display"] == "MEDIUM REL:APPLEO"
    assert report["is_admin"] is False
