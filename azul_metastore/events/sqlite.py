"""The embedded event log: an append-only SQLite table per topic offset space, with consumer groups.

Why this shape:

* Records live in one rowid table appended in offset order, so an append is a B-tree append
  (SQLite's fastest insert) and a consumer's read is a range scan of ``(topic, offset)``.
* A consumer group's progress is ``committed`` (everything below is done) plus *leases*: ranges
  handed to a consumer and not yet committed. Several consumers of one group, in one process or
  many, each take the next unleased range, so they never get the same records; a lease that
  expires (its consumer died) or whose consumer asks again (it restarted under the same name) is
  handed out again. That is Kafka's at-least-once contract without partitions.
* Every write runs in ``BEGIN IMMEDIATE``, queued on the writer lock of ``sqlite_file.py`` across
  threads and processes (WAL mode keeps readers unblocked).
  ``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a process crash
  (kill -9); only a power loss may drop the last ones.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from azul_metastore.events.port import Batch, Message, Record
from azul_metastore.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_offset INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS records_topic_offset ON records (topic_id, offset);
CREATE TABLE IF NOT EXISTS groups (
    group_name TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, topic_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    group_name TEXT NOT NULL,
    topic_id INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    consumer TEXT NOT NULL,
    expires REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (group_name, topic_id, start)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class _Lease:
    topic_id: int
    start: int
    end: int


def _setup(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA cache_size=-65536")


class SqliteEventLog:
    """Event log on one SQLite file; safe for many threads and processes at once.

    ``lease_seconds`` is how long a fetched, uncommitted batch stays with its consumer before
    another consumer of the group may take it over.
    """

    def __init__(self, path: Path, lease_seconds: float = 60.0, poll_interval: float = 0.05) -> None:
        self.path = Path(path)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self._appended = threading.Condition()
        self._topic_ids: dict[str, int] = {}
        self._file = SqliteFile(self.path, "event log", _setup, busy_seconds=30.0)
        # executescript commits on its own, so the schema is created outside _write()
        with self._file.exclusive() as db:
            db.executescript(SCHEMA)

    # --- connections --------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        return self._file.connection()

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._file.write()

    def _topic_id(self, db: sqlite3.Connection, topic: str, create: bool) -> int | None:
        tid = self._topic_ids.get(topic)
        if tid is not None:
            return tid
        row = db.execute("SELECT id FROM topics WHERE name = ?", (topic,)).fetchone()
        if row is None:
            if not create:
                return None
            row = db.execute("INSERT INTO topics (name) VALUES (?) RETURNING id", (topic,)).fetchone()
        self._topic_ids[topic] = row[0]
        return row[0]

    # --- the port -----------------------------------------------------------------------------

    def append(self, topic: str, messages: Sequence[Message]) -> list[int]:
        if not messages:
            return []
        now_ms = int(time.time() * 1000)
        with self._write() as db:
            tid = self._topic_id(db, topic, create=True)
            (first,) = db.execute("SELECT next_offset FROM topics WHERE id = ?", (tid,)).fetchone()
            offsets = list(range(first, first + len(messages)))
            db.executemany(
                "INSERT INTO records (topic_id, offset, key, ts, value) VALUES (?, ?, ?, ?, ?)",
                [(tid, off, m.key, now_ms, m.value) for off, m in zip(offsets, messages, strict=True)],
            )
            db.execute("UPDATE topics SET next_offset = ? WHERE id = ?", (first + len(messages), tid))
        with self._appended:
            self._appended.notify_all()
        return offsets

    def fetch(
        self, group: str, topics: Sequence[str], max_count: int, wait: float, consumer: str = ""
    ) -> Batch:
        consumer = consumer or f"anon-{uuid.uuid4().hex}"
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            batch = self._try_fetch(group, topics, max_count, consumer)
            remaining = deadline - time.monotonic()
            if batch.records or remaining <= 0:
                return batch
            with self._appended:
                self._appended.wait(min(remaining, self.poll_interval))

    def _try_fetch(self, group: str, topics: Sequence[str], max_count: int, consumer: str) -> Batch:
        now = time.time()
        with self._write() as db:
            for topic in topics:
                tid = self._topic_id(db, topic, create=False)
                if tid is None:
                    continue
                # 1. a range this consumer held before a restart, or one whose consumer vanished
                row = db.execute(
                    "SELECT start, end FROM leases WHERE group_name = ? AND topic_id = ? AND done = 0"
                    " AND (expires < ? OR consumer = ?) ORDER BY start LIMIT 1",
                    (group, tid, now, consumer),
                ).fetchone()
                if row is not None:
                    start, end = row
                    if end - start > max_count:
                        # a vanished consumer's larger batch: take what was asked for and leave the
                        # rest as a range of its own, free for the next fetch (of any consumer)
                        db.execute(
                            "INSERT INTO leases (group_name, topic_id, start, end, consumer, expires)"
                            " VALUES (?, ?, ?, ?, '', 0)",
                            (group, tid, start + max_count, end),
                        )
                        end = start + max_count
                    db.execute(
                        "UPDATE leases SET consumer = ?, expires = ?, end = ? WHERE group_name = ? AND topic_id = ?"
                        " AND start = ?",
                        (consumer, now + self.lease_seconds, end, group, tid, start),
                    )
                    records = self._records(db, topic, tid, start, end, end - start)
                    if records:
                        return Batch(group, records, [_Lease(tid, start, end)])
                    # the range was trimmed away meanwhile: nothing to redeliver
                    db.execute(
                        "UPDATE leases SET done = 1 WHERE group_name = ? AND topic_id = ? AND start = ?",
                        (group, tid, start),
                    )
                    self._compact(db, group, tid)
                # 2. the next range nobody holds
                frontier = self._frontier(db, group, tid)
                records = self._records(db, topic, tid, frontier, None, max_count)
                if records:
                    start, end = records[0].offset, records[-1].offset + 1
                    db.execute(
                        "INSERT INTO leases (group_name, topic_id, start, end, consumer, expires)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (group, tid, start, end, consumer, now + self.lease_seconds),
                    )
                    return Batch(group, records, [_Lease(tid, start, end)])
        return Batch(group, [], [])

    @staticmethod
    def _records(
        db: sqlite3.Connection, topic: str, tid: int, start: int, end: int | None, limit: int
    ) -> list[Record]:
        if end is None:
            rows = db.execute(
                "SELECT offset, key, value, ts FROM records WHERE topic_id = ? AND offset >= ?"
                " ORDER BY offset LIMIT ?",
                (tid, start, limit),
            ).fetchall()
        else:
            rows = db.execute(
                "SELECT offset, key, value, ts FROM records WHERE topic_id = ? AND offset >= ? AND offset < ?"
                " ORDER BY offset LIMIT ?",
                (tid, start, end, limit),
            ).fetchall()
        return [Record(topic, off, key, value, ts) for off, key, value, ts in rows]

    @staticmethod
    def _frontier(db: sqlite3.Connection, group: str, tid: int) -> int:
        row = db.execute(
            "SELECT committed FROM groups WHERE group_name = ? AND topic_id = ?", (group, tid)
        ).fetchone()
        committed = row[0] if row else 0
        (leased,) = db.execute(
            "SELECT MAX(end) FROM leases WHERE group_name = ? AND topic_id = ?", (group, tid)
        ).fetchone()
        return max(committed, leased or 0)

    @staticmethod
    def _compact(db: sqlite3.Connection, group: str, tid: int) -> None:
        """Fold leading done leases into the group's committed offset."""
        row = db.execute(
            "SELECT committed FROM groups WHERE group_name = ? AND topic_id = ?", (group, tid)
        ).fetchone()
        committed = row[0] if row else 0
        folded = []
        for start, end, done in db.execute(
            "SELECT start, end, done FROM leases WHERE group_name = ? AND topic_id = ? ORDER BY start",
            (group, tid),
        ).fetchall():
            if not done:
                break
            committed = max(committed, end)
            folded.append(start)
        if folded:
            db.executemany(
                "DELETE FROM leases WHERE group_name = ? AND topic_id = ? AND start = ?",
                [(group, tid, s) for s in folded],
            )
            db.execute(
                "INSERT INTO groups (group_name, topic_id, committed) VALUES (?, ?, ?)"
                " ON CONFLICT (group_name, topic_id) DO UPDATE SET committed = excluded.committed",
                (group, tid, committed),
            )

    def commit(self, batch: Batch) -> None:
        leases: list[_Lease] = batch.token or []  # type: ignore[assignment]
        if not leases:
            return
        with self._write() as db:
            for lease in leases:
                db.execute(
                    "UPDATE leases SET done = 1 WHERE group_name = ? AND topic_id = ? AND start = ?",
                    (batch.group, lease.topic_id, lease.start),
                )
                self._compact(db, batch.group, lease.topic_id)

    def release(self, batch: Batch) -> None:
        leases: list[_Lease] = batch.token or []  # type: ignore[assignment]
        if not leases:
            return
        with self._write() as db:
            for lease in leases:
                db.execute(
                    "UPDATE leases SET expires = 0 WHERE group_name = ? AND topic_id = ? AND start = ? AND done = 0",
                    (batch.group, lease.topic_id, lease.start),
                )

    def trim(self, topic: str, older_than_ms: int) -> int:
        with self._write() as db:
            tid = self._topic_id(db, topic, create=False)
            if tid is None:
                return 0
            row = db.execute(
                "SELECT offset FROM records WHERE topic_id = ? AND ts >= ? ORDER BY offset LIMIT 1",
                (tid, older_than_ms),
            ).fetchone()
            if row is None:
                (cut,) = db.execute("SELECT next_offset FROM topics WHERE id = ?", (tid,)).fetchone()
            else:
                cut = row[0]
            return db.execute("DELETE FROM records WHERE topic_id = ? AND offset < ?", (tid, cut)).rowcount

    def read(self, topic: str, start: int = 0, limit: int = 100) -> list[Record]:
        db = self._db()
        tid = self._topic_id(db, topic, create=False)
        if tid is None:
            return []
        return self._records(db, topic, tid, start, None, limit)

    def end_offset(self, topic: str) -> int:
        db = self._db()
        row = db.execute("SELECT next_offset FROM topics WHERE name = ?", (topic,)).fetchone()
        return row[0] if row else 0

    def lag(self, group: str, topic: str) -> int:
        db = self._db()
        tid = self._topic_id(db, topic, create=False)
        if tid is None:
            return 0
        row = db.execute(
            "SELECT committed FROM groups WHERE group_name = ? AND topic_id = ?", (group, tid)
        ).fetchone()
        committed = row[0] if row else 0
        (first,) = db.execute("SELECT MIN(offset) FROM records WHERE topic_id = ?", (tid,)).fetchone()
        return max(0, self.end_offset(topic) - max(committed, first or 0))

    def topics(self) -> list[str]:
        return [r[0] for r in self._db().execute("SELECT name FROM topics ORDER BY name")]

    def close(self) -> None:
        self._file.close()
