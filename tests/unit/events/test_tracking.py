"""Tracking fields and ids stamped on intake."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from azul_metastore.events.tracking import assign_tracking, go_timestamp, track_source_references
from azul_metastore.models.events import BinaryEvent, PluginEvent
from tests.support.events import binary_event


def test_track_source_references_is_source_and_md5_of_sorted_references() -> None:
    expected = hashlib.md5(b"a.1.b.2.").hexdigest()
    assert track_source_references("samples", {"b": "2", "a": "1"}) == f"samples.{expected}"


def test_go_layout_timestamps() -> None:
    assert go_timestamp(datetime(2021, 1, 1, 12, 0, 0, tzinfo=UTC)) == "2021_01_01T12_00_00Z"
    plus11 = timezone(timedelta(hours=11))
    assert go_timestamp(datetime(2021, 10, 8, 13, 42, 56, tzinfo=plus11)) == "2021_10_08T13_42_56+11_00"


def test_binary_tracking_fields() -> None:
    parent = "a" * 64
    event = BinaryEvent.model_validate(binary_event(action="extracted", parent=parent, author="unzip", version="2"))
    assign_tracking(event)
    child = event.entity.sha256
    assert event.track_authors == ["user.uploader.", "plugin.unzip.2"]
    assert event.track_links == [f"{parent}.{child}.2024_01_01T00_00_00Z.plugin.unzip.2"]
    assert event.track_source_references.startswith("samples.")
    assert len(event.kafka_key) == 32


def test_binary_kafka_key_ignores_author_version() -> None:
    one = BinaryEvent.model_validate(binary_event(action="enriched", version="1"))
    two = BinaryEvent.model_validate(binary_event(action="enriched", version="2"))
    two.entity.sha256 = one.entity.sha256
    for e in (one, two):
        assign_tracking(e)
    assert one.kafka_key == two.kafka_key


def test_plugin_kafka_key_is_per_name_and_version() -> None:
    def plugin(version: str) -> PluginEvent:
        event = PluginEvent.model_validate({
            "model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
            "author": {"name": "p"}, "entity": {"name": "p", "version": version}})
        assign_tracking(event)
        return event

    assert plugin("1").kafka_key == plugin("1").kafka_key != plugin("2").kafka_key
