"""The consumer registry: filters recorded on the event log when they change or grow old, read
back incrementally, consumers that stopped fetching dropped."""

from __future__ import annotations

from pathlib import Path

from azul_metastore.events import topics
from azul_metastore.events.consumers import REFRESH, SEEN_WITHIN, ConsumerRegistry
from azul_metastore.events.port import Message
from azul_metastore.events.sqlite import SqliteEventLog


class FakeClock:
    """A clock the test moves (a fake: time itself cannot be run here)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_filters_are_recorded_when_they_change_or_grow_old_and_read_back(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "events.sqlite3")
    clock = FakeClock()
    writer, reader = ConsumerRegistry(log, clock), ConsumerRegistry(log, clock)
    writer.record("p", "1", {"r-content": True})
    writer.record("p", "1", {"r-content": True})
    assert log.end_offset(topics.CONSUMERS) == 1  # unchanged: not recorded again
    writer.record("p", "1", {"r-content": True, "d-self": True})
    writer.record("q", "2", {})
    assert log.end_offset(topics.CONSUMERS) == 3
    assert [(c.name, c.version, dict(c.filters)) for c in reader.consumers()] == [
        ("p", "1", {"d-self": True, "r-content": True}), ("q", "2", {})]
    # another producer's record on the topic teaches nothing and stops nothing
    log.append(topics.CONSUMERS, [Message("x", b"not a registration")])
    clock.now += REFRESH + 1
    writer.record("q", "2", {})  # unchanged but old: recorded again, so q stays listed
    clock.now += SEEN_WITHIN - REFRESH
    assert [c.name for c in reader.consumers()] == ["q"]  # p stopped fetching

