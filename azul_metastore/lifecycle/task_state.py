"""The lifecycle state file (``data_dir/lifecycle.sqlite3``): plugin tasks handed out through
``active`` and what became of them, and the progress of reprocessing jobs.

Why a small SQLite file of our own, and not the index or the event log:

* deciding to retry a task must happen once, whoever else is deciding at the same time. That needs
  a conditional write ("move this task from *pending* to *retrying* if it is still pending") - a
  claim on the task's unique key. The event log only appends, and the index port upserts (last
  writer wins), so neither can say "you won";
* a task's whole input event is needed to publish it again; status documents in the index keep
  only the sha256 (by design, they are numerous);
* the table is small (open tasks, and failures until they are retried or age out) and private to
  this package, so it can change without a migration of the shared index.

Every claim runs in ``BEGIN IMMEDIATE`` (one writer at a time across threads and processes, WAL
readers unblocked), as the event log does. With several hosts, point ``data_dir`` at shared
storage or run the lost-task processor on one of them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from azul_metastore.sqlite_file import SqliteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    dequeued TEXT NOT NULL,
    plugin TEXT NOT NULL,
    version TEXT,
    sha256 TEXT,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    status TEXT,
    error TEXT,
    due REAL,
    updated REAL NOT NULL,
    input BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (state, due);
CREATE INDEX IF NOT EXISTS tasks_plugin ON tasks (plugin, state, status);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    published INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    error TEXT,
    params TEXT NOT NULL
);
"""

#: task states: waiting for an outcome, outcome recorded, given up, being retried, retried
PENDING, DONE, FAILED, LOST, RETRYING, RETRIED = "pending", "done", "failed", "lost", "retrying", "retried"


@dataclass(frozen=True)
class Task:
    key: str
    dequeued: str
    plugin: str
    version: str | None
    sha256: str | None
    attempt: int
    state: str
    status: str | None
    error: str | None
    due: float | None
    updated: float
    input: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """The task as the failures listing shows it (``attempts`` counts runs, the first included)."""
        return {"sha256": self.sha256, "plugin": self.plugin, "version": self.version, "dequeued": self.dequeued,
                "state": self.state, "status": self.status, "error": self.error, "attempts": self.attempt + 1,
                "updated": self.updated}


_COLUMNS = "key, dequeued, plugin, version, sha256, attempt, state, status, error, due, updated, input"


def _task(row: Sequence[Any]) -> Task:
    return Task(*row[:-1], input=orjson.loads(row[-1]))


class TaskState:
    """The state file; safe for many threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = SqliteFile(self.path, "lifecycle state", busy_seconds=30.0)
        with self._file.exclusive() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        return self._file.connection()

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._file.write()

    # --- tasks ---------------------------------------------------------------------------------

    def dequeued(self, rows: Sequence[tuple[str, str, str, str | None, str | None, int, float, float, bytes]]
                 ) -> None:
        """Record tasks handed out: (key, dequeued, plugin, version, sha256, attempt, due, now, input).
        A task whose outcome arrived first keeps it. A retry handed out within the same second as
        the run it replaces has the same dequeued id (it has one-second resolution), hence the same
        key: its higher attempt count tells it apart, and it starts the task afresh."""
        with self.write() as db:
            db.executemany(
                "INSERT INTO tasks (key, dequeued, plugin, version, sha256, attempt, due, updated, input, state,"
                " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 'dequeued') ON CONFLICT (key) DO UPDATE SET"
                " attempt = excluded.attempt, due = excluded.due, updated = excluded.updated, input = excluded.input,"
                " state = 'pending', status = 'dequeued', error = NULL WHERE excluded.attempt > tasks.attempt",
                rows,
            )

    def heartbeat(self, key: str, due: float, now: float) -> None:
        with self.write() as db:
            db.execute("UPDATE tasks SET due = MAX(due, ?), status = 'heartbeat', updated = ? WHERE key = ?"
                       " AND state = 'pending'", (due, now, key))

    def outcome(self, key: str, state: str, status: str, error: str | None, due: float | None, now: float,
                row: tuple[str, str, str | None, str | None, int, bytes]) -> None:
        """Record a plugin's final status for a task. Only a pending task changes (a task already
        retried or given up keeps that); a task not seen yet is recorded with this outcome.
        ``row`` is (dequeued, plugin, version, sha256, attempt, input) for that case."""
        with self.write() as db:
            db.execute(
                "INSERT INTO tasks (key, dequeued, plugin, version, sha256, attempt, input, state, status, error,"
                " due, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
                " state = excluded.state, status = excluded.status, error = excluded.error, due = excluded.due,"
                " updated = excluded.updated WHERE tasks.state = 'pending'",
                (key, *row, state, status, error, due, now),
            )

    def release_stale_claims(self, older_than: float) -> int:
        """Claims whose process died before publishing become pending again."""
        with self.write() as db:
            return db.execute("UPDATE tasks SET state = 'pending' WHERE state = 'retrying' AND updated < ?",
                              (older_than,)).rowcount

    def due(self, now: float, limit: int) -> list[Task]:
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM tasks WHERE state = 'pending' AND due <= ?"
                                  f" ORDER BY due LIMIT ?", (now, limit)).fetchall()
        return [_task(r) for r in rows]

    def claim(self, key: str, now: float, from_states: Sequence[str] = (PENDING,)) -> bool:
        """Take a task for retrying: True for exactly one caller, however many try at once."""
        marks = ",".join("?" * len(from_states))
        with self.write() as db:
            return db.execute(f"UPDATE tasks SET state = 'retrying', updated = ? WHERE key = ? AND state IN ({marks})",
                              (now, key, *from_states)).rowcount == 1

    def settle(self, key: str, state: str, now: float, status: str | None = None, error: str | None = None) -> None:
        with self.write() as db:
            db.execute("UPDATE tasks SET state = ?, status = COALESCE(?, status), error = COALESCE(?, error),"
                       " updated = ? WHERE key = ?", (state, status, error, now, key))

    def tasks(self, plugin: str, *, states: Sequence[str] = (), status: str | None = None,
              limit: int = 1000) -> list[Task]:
        sql = f"SELECT {_COLUMNS} FROM tasks WHERE plugin = ?"
        params: list[Any] = [plugin]
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        if status:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY updated DESC LIMIT ?"
        params.append(limit)
        return [_task(r) for r in self._db().execute(sql, params)]

    def task(self, key: str) -> Task | None:
        row = self._db().execute(f"SELECT {_COLUMNS} FROM tasks WHERE key = ?", (key,)).fetchone()
        return _task(row) if row else None

    # --- reprocess jobs ------------------------------------------------------------------------

    def create_job(self, job_id: str, params: dict[str, Any], now: float) -> None:
        with self.write() as db:
            db.execute("INSERT INTO jobs (id, state, created, updated, params) VALUES (?, 'running', ?, ?, ?)",
                       (job_id, now, now, orjson.dumps(params).decode()))

    def update_job(self, job_id: str, now: float, *, state: str | None = None, total: int | None = None,
                   published: int | None = None, error: str | None = None) -> None:
        with self.write() as db:
            db.execute("UPDATE jobs SET state = COALESCE(?, state), total = COALESCE(?, total),"
                       " published = COALESCE(?, published), error = COALESCE(?, error), updated = ? WHERE id = ?",
                       (state, total, published, error, now, job_id))

    def job(self, job_id: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT id, state, total, published, created, updated, error, params FROM jobs"
                                 " WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        keys = ("id", "state", "total", "published", "created", "updated", "error", "params")
        out = dict(zip(keys, row, strict=True))
        out["params"] = orjson.loads(out["params"])
        return out

    def close(self) -> None:
        self._file.close(reopen=True)
