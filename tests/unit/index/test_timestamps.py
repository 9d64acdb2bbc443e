"""Timestamps as the metastore reads them: a time without a zone is UTC wherever the server runs,
and a time that leaves the range of dates once in UTC is refused with a message, not a crash."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import TypeAdapter, ValidationError

from azul_metastore.errors import InvalidInput
from azul_metastore.index.timestamps import epoch_ms, parse_timestamp, partition_end, partition_key, to_utc_text
from azul_metastore.models.events import Timestamp

OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.fixture
def sydney(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs in a zone ten or eleven hours from UTC."""
    monkeypatch.setenv("TZ", "Australia/Sydney")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_time_without_a_zone_is_utc_in_any_server_zone(sydney: None) -> None:
    assert time.localtime(0).tm_gmtoff != 0  # the fixture took effect
    assert epoch_ms("2024-01-01T00:00:00") == epoch_ms("2024-01-01T00:00:00Z") == 1_704_067_200_000
    assert epoch_ms("2024-01-01T01:00:00+01:00") == 1_704_067_200_000
    assert to_utc_text("2024-01-01T00:00:00") == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00Z"])
def test_text_that_is_not_iso_8601_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="not ISO 8601"):
        epoch_ms(text)
    with pytest.raises(InvalidInput, match="not ISO 8601"):
        parse_timestamp(text)


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_a_time_outside_the_utc_range_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="out of range"):
        parse_timestamp(text)
    with pytest.raises(InvalidInput, match="out of range"):
        to_utc_text(text)
    with pytest.raises(ValidationError, match="out of range"):
        TypeAdapter(Timestamp).validate_python(text)


def test_times_at_the_edges_of_the_range_are_kept() -> None:
    assert to_utc_text("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"
    assert to_utc_text("9999-12-31T23:59:59+00:00") == "9999-12-31T23:59:59Z"
    assert TypeAdapter(Timestamp).validate_python("0001-01-01T01:00:00+01:00").year == 1


@pytest.mark.parametrize("unit", ["year", "month", "week", "day"])
def test_a_bucket_ends_where_the_next_begins(unit: str) -> None:
    """Every instant falls before its bucket's end, and the end belongs to another bucket."""
    from datetime import UTC, datetime, timedelta

    at = datetime(2023, 12, 1, tzinfo=UTC)
    while at.year < 2025:
        key = partition_key(at, unit)
        end = partition_end(key)
        assert end is not None and at < end, (key, at)
        assert partition_key(end, unit) != key and partition_key(end - timedelta(microseconds=1), unit) == key
        at += timedelta(hours=5)


def test_what_is_not_a_bucket_has_no_end() -> None:
    assert [partition_end(k) for k in ("all", "2024-13", "2024-02-30", "2024-03-w54", "x2024", "9999")] == [None] * 6
