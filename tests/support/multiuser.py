"""A real server with the reference's test users (tests/support/security.py), each holding a static
API token, for API tests that check what each user may see.

Example::

    def test_x(multi_server: str) -> None:
        post_events(multi_server, "binary", [binary_event(security="MEDIUM REL:APPLE")])
        assert as_user(multi_server, "low").get("/api/v0/statistics").json()["data"]["binary_count"] == 0
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from azul_metastore.app import Services, build_services
from azul_metastore.settings import ApiToken, Settings
from tests.support.security import USERS, security_settings
from tests.support.server import running_server

SOURCES = {
    "samples": {"references": [{"name": "user", "required": True, "description": "who submitted"}]},
    "virustotal": {"description": "VirusTotal imports"},
    "testing": {"expire_events_after": "1 days"},
}

#: the bearer token of each test user
TOKENS = {name: f"token-for-{name}" for name in USERS}


def multiuser_settings(tmp_path: Path, **overrides: Any) -> Settings:
    tokens = [ApiToken(sha256=hashlib.sha256(TOKENS[name].encode()).hexdigest(), username=name, roles=roles)
              for name, roles in USERS.items()]
    return security_settings(data_dir=tmp_path / "data", sources=SOURCES, api_tokens=tokens, **overrides)


@pytest.fixture
def multi_services(tmp_path: Path) -> Iterator[Services]:
    svc = build_services(multiuser_settings(tmp_path))
    yield svc
    svc.close()


@pytest.fixture
def multi_server(multi_services: Services) -> Iterator[str]:
    with running_server(multi_services) as url:
        yield url


def as_user(server: str, user: str) -> httpx.Client:
    """An HTTP client acting as one of the test users."""
    return httpx.Client(base_url=server, headers={"authorization": f"Bearer {TOKENS[user]}"}, timeout=30)


def post_events(server: str, model: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Publish and index events through the event API (as the admin, a service role)."""
    with as_user(server, "admin") as client:
        resp = client.post("/api/v2/event", params={"model": model, "refresh": "true", "include_ok": "true"},
                           content=json.dumps(events), headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total_failures"] == 0, body["failures"]
    return body


def upload(server: str, source: str, label: str, data: bytes) -> str:
    """Store bytes through the stream API; returns their sha256."""
    with as_user(server, "admin") as client:
        resp = client.post(f"/api/v3/stream/{source}/{label}", content=data, params={"skip-identify": "true"})
    assert resp.status_code == 200, resp.text
    return resp.json()["sha256"]


def now_text(delta_days: float = 0) -> str:
    from datetime import timedelta

    return (datetime.now(UTC) + timedelta(days=delta_days)).isoformat().replace("+00:00", "Z")


def plugin_event(name: str, version: str, *, features: list[dict[str, str]] | None = None,
                 category: str = "plugin", security: str | None = None, timestamp: str | None = None,
                 config: dict[str, str] | None = None) -> dict[str, Any]:
    """A plugin registration event."""
    author: dict[str, Any] = {"name": name, "version": version, "category": category}
    if security:
        author["security"] = security
    entity = {**author, "description": f"the {name} plugin", "contact": "someone",
              "features": features or [], "config": config or {}}
    return {"model_version": 6, "kafka_key": "tmp", "timestamp": timestamp or now_text(),
            "author": author, "entity": entity}


def status_event(name: str, version: str, binary: dict[str, Any], status: str, *, category: str = "plugin",
                 timestamp: str | None = None, security: str | None = None) -> dict[str, Any]:
    """A status event of plugin ``name`` about ``binary`` (a binary event)."""
    author: dict[str, Any] = {"name": name, "version": version, "category": category}
    if security:
        author["security"] = security
    return {"model_version": 6, "kafka_key": "tmp", "timestamp": timestamp or now_text(), "author": author,
            "entity": {"input": binary, "status": status, "runtime": 1.5}}
