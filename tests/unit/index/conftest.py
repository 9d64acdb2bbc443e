"""Encoders built on the default vocabulary (the Azul fixtures use OFFICIAL) and on the test one."""

from __future__ import annotations

import pytest

from azul_metastore.index.encoder import Encoder
from azul_metastore.settings import Settings
from tests.support.gen import SOURCES
from tests.support.security import security_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(sources=SOURCES, status_partition_unit="week")


@pytest.fixture(scope="session")
def encoder(settings: Settings) -> Encoder:
    return Encoder(settings)


@pytest.fixture(scope="session")
def test_vocab_encoder() -> Encoder:
    """An encoder with the reference's test labels (LOW, MEDIUM, REL:APPLE ...)."""
    return Encoder(security_settings(sources=SOURCES))
