"""The time lifecycle jobs work by, injectable so tests can move it (age-off cutoffs, lost-task
timeouts and retry back-off are all decided against it, never against ``datetime.now`` directly)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved: ``ManualClock(offset=timedelta(days=2))`` runs two
    days ahead of real time; :meth:`advance` moves it further."""

    def __init__(self, at: datetime | None = None, offset: timedelta = timedelta(0)) -> None:
        self._at = at
        self._offset = offset

    def now(self) -> datetime:
        base = self._at if self._at is not None else datetime.now(UTC)
        return base + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta
