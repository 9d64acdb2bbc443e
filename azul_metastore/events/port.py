"""The event log port: durable, ordered topics with consumer groups (Kafka semantics).

Every adapter (SQLite for the embedded default, Kafka for scale-out) honours the same contract,
checked by ``tests/backends/test_event_log.py``:

* ``append`` writes a batch atomically and returns the offsets given to each record;
* ``fetch`` hands a consumer of a group the next records it has not seen, reading the topics in
  the order given (priority lanes: e.g. expedite, retry, live), waiting up to ``wait`` seconds
  for something to arrive (long poll);
* ``commit`` records that a fetched batch is done. A batch fetched but never committed (the
  consumer crashed) is handed out again once its lease expires: at-least-once delivery;
* a group that has never committed starts from the oldest retained record (it replays history);
* ``trim`` drops records older than a retention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    offset: int
    key: str
    value: bytes
    timestamp_ms: int


@dataclass(slots=True)
class Batch:
    """What one ``fetch`` returned; hand it back to ``commit`` once its records are processed."""

    group: str
    records: list[Record] = field(default_factory=list)
    #: adapter-specific bookkeeping needed to commit or release this batch
    token: object = None

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True)
class Message:
    """One record to append: ``key`` is the event's ``kafka_key``."""

    key: str
    value: bytes


class EventLog(Protocol):
    def append(self, topic: str, messages: Sequence[Message]) -> list[int]:
        """Append atomically; return each message's offset."""
        ...

    def fetch(
        self, group: str, topics: Sequence[str], max_count: int, wait: float, consumer: str = ""
    ) -> Batch:
        """Next records for ``group`` from the first topic in ``topics`` that has any."""
        ...

    def commit(self, batch: Batch) -> None:
        """Mark a fetched batch as processed by its group."""
        ...

    def release(self, batch: Batch) -> None:
        """Give a fetched batch back uncommitted so it is redelivered at once."""
        ...

    def trim(self, topic: str, older_than_ms: int) -> int:
        """Drop records appended before ``older_than_ms`` (epoch ms); return how many went."""
        ...

    def read(self, topic: str, start: int = 0, limit: int = 100) -> list[Record]:
        """Records from ``start`` regardless of groups (for ``events tail`` and audits)."""
        ...

    def end_offset(self, topic: str) -> int:
        """The offset the next appended record will get."""
        ...

    def lag(self, group: str, topic: str) -> int:
        """Records of ``topic`` the group has not committed yet."""
        ...

    def topics(self) -> list[str]:
        """Every topic that has ever had a record appended."""
        ...

    def close(self) -> None: ...
