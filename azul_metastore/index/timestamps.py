"""Timestamps as the index stores them: UTC ISO 8601 text with a ``Z`` suffix, and the time buckets
that status documents are partitioned by (so age-off can drop whole buckets, §4.7).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from azul_metastore.errors import InvalidInput
from azul_metastore.models.events import utc_iso

__all__ = ["epoch_ms", "parse_timestamp", "partition_end", "partition_key", "to_utc_text"]

# Events in the log were written by pydantic, which already emits the canonical UTC form
# (``...T12:00:00Z`` or ``...T12:00:00.123456Z``); recognising it skips a parse per timestamp.
_CANONICAL = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
_NANOS = re.compile(r"^(.*T\d\d:\d\d:\d\d\.\d{6})\d+(.*)$")


def parse_timestamp(value: Any) -> datetime:
    """An aware datetime from a datetime or ISO text (nanoseconds truncated); naive means UTC."""
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, str):
        text = value
        m = _NANOS.match(text)
        if m:
            text = m.group(1) + m.group(2)
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"timestamp {value!r} is not ISO 8601 (e.g. 2024-01-31T12:00:00Z)") from None
    else:
        raise InvalidInput(f"timestamp {value!r} is not ISO 8601 text")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        return ts.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00:00+01:00: valid ISO 8601, but before year 1 once in UTC
        raise InvalidInput(f"timestamp {value!r} is out of range: in UTC it must fall within years 1 to 9999") from None


def epoch_ms(text: str) -> int:
    """Milliseconds since 1970 of ISO 8601 text; naive means UTC, as everywhere in the metastore
    (``datetime.timestamp`` would read a naive time in the server's own zone)."""
    try:
        ts = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidInput(f"timestamp {text!r} is not ISO 8601 (e.g. 2024-01-31T12:00:00Z)") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return int(ts.timestamp() * 1000)


def to_utc_text(value: Any) -> str:
    """The stored form of a timestamp: UTC, ``Z``, microseconds only when non-zero."""
    if isinstance(value, str) and _CANONICAL.match(value) and not value.endswith(".000000Z"):
        return value
    return utc_iso(parse_timestamp(value))


def partition_key(value: Any, unit: str) -> str:
    """The time bucket of a status document for ``status_partition_unit``.

    ``year`` → ``2024``, ``month`` → ``2024-03``, ``week`` → ``2024-03-w10`` (week = ceil(day of
    year / 7), so weeks never straddle years, unlike ISO weeks), ``day`` → ``2024-03-05``, ``all``.
    The bucket is taken in UTC.
    """
    if unit == "all":
        return "all"
    ts = parse_timestamp(value).astimezone(UTC)
    if unit == "year":
        return f"{ts.year:04d}"
    if unit == "month":
        return f"{ts.year:04d}-{ts.month:02d}"
    if unit == "week":
        week = -(-ts.timetuple().tm_yday // 7)
        return f"{ts.year:04d}-{ts.month:02d}-w{week:02d}"
    if unit == "day":
        return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}"
    raise InvalidInput(f"partition unit {unit!r} is not one of: all, year, month, week, day")


_KEYS = re.compile(r"^(\d{4})(?:-(\d\d)(?:-w(\d\d)|-(\d\d))?)?$")


def partition_end(key: str) -> datetime | None:
    """When the time bucket ``key`` (of :func:`partition_key`) ends: every document in it is older.

    None for ``all`` and for anything that is not a bucket key. A week bucket is cut by its month
    as well as by its week (a week straddling two months has a bucket in each).
    """
    m = _KEYS.match(key)
    if not m:
        return None
    year, month, week, day = (int(g) if g else None for g in m.groups())
    assert year is not None
    if (month is not None and not 1 <= month <= 12) or (week is not None and not 1 <= week <= 53):
        return None
    try:
        if month is None:
            return datetime(year + 1, 1, 1, tzinfo=UTC) if year < 9999 else None
        month_end = (datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
                     if (year, month) < (9999, 12) else None)
        if day is not None:
            return datetime(year, month, day, tzinfo=UTC) + timedelta(days=1)
        if week is not None:
            week_end = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=7 * week)
            return min(week_end, month_end) if month_end else week_end
        return month_end
    except (ValueError, OverflowError):
        return None
