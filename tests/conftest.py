"""Shared fixtures: settings on a temporary data folder, services built by the composition root,
and a real HTTP server around them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azul_metastore.app import Services, build_services
from azul_metastore.settings import Settings, load_settings
from tests.support.server import running_server

pytest_plugins = ["tests.realservices"]

TEST_SOURCES = {
    "samples": {"references": [{"name": "user", "required": True, "description": "who submitted"}]},
    "virustotal": {"description": "VirusTotal imports"},
    "testing": {"expire_events_after": "1 days"},
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", sources=TEST_SOURCES, auth_open=True)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = build_services(settings)
    yield svc
    svc.close()


@pytest.fixture
def server(services: Services) -> Iterator[str]:
    with running_server(services) as url:
        yield url
