"""Kafka topic settings chosen by the composition root (app.kafka_topic_config)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from azul_metastore.app import kafka_max_message_bytes, kafka_topic_config
from azul_metastore.errors import InvalidInput
from azul_metastore.settings import load_settings


def test_plugin_registrations_and_dead_letters_are_kept_and_events_follow_the_sources(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, sources={"short": {"expire_events_after": "1 days"}})
    config = kafka_topic_config(settings)
    assert config("binary")["retention.ms"] == str(86_400_000)
    assert config("plugin")["retention.ms"] == "-1"
    assert config("dead-letter")["retention.ms"] == "-1"
    assert int(config("binary")["max.message.bytes"]) == kafka_max_message_bytes(settings) > settings.max_event_bytes
    # consumer registrations: the newest per consumer is kept, for as long as the registry reads them
    assert config("consumers")["cleanup.policy"] == "compact,delete"
    assert config("consumers")["retention.ms"] == str(6 * 24 * 3600 * 1000)


def test_kafka_topic_names_past_the_limit_are_shortened_without_half_an_escape() -> None:
    from azul_metastore.events.kafka import kafka_topic_name

    short = kafka_topic_name("azul", "p", "binary.retry.plug_in")
    assert short == "azul.p.binary.retry.plug_5f5fin"  # the escape of "_" escaped again (_unescape)
    for tail in ("é" * 120, "a" * 300, "_" * 100, "a" * 200 + "é" * 50):
        name = kafka_topic_name("azul", "p", "binary.retry." + tail)
        assert len(name) <= 249 and re.fullmatch(r"[A-Za-z0-9._-]+", name), name
        assert re.search(r"_x[0-9a-f]{16}$", name) and not re.search(r"_[0-9a-f]?_x", name), name
        assert name == kafka_topic_name("azul", "p", "binary.retry." + tail)
        listed = name[len("azul.p."):]  # how topics() lists it: it names the same topic
        assert kafka_topic_name("azul", "p", listed) == name
    with pytest.raises(InvalidInput, match="leave no room"):
        kafka_topic_name("a" * 200, "b" * 60, "binary")
