"""Kafka topic settings chosen by the composition root (app.kafka_topic_config)."""

from __future__ import annotations

from pathlib import Path

from azul_metastore.app import kafka_max_message_bytes, kafka_topic_config
from azul_metastore.settings import load_settings


def test_plugin_registrations_and_dead_letters_are_kept_and_events_follow_the_sources(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, sources={"short": {"expire_events_after": "1 days"}})
    config = kafka_topic_config(settings)
    assert config("binary")["retention.ms"] == str(86_400_000)
    assert config("plugin")["retention.ms"] == "-1"
    assert config("dead-letter")["retention.ms"] == "-1"
    assert int(config("binary")["max.message.bytes"]) == kafka_max_message_bytes(settings) > settings.max_event_bytes
