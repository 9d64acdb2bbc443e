"""An SQLite file shared by threads and processes: a connection per thread, one writer at a time.

The embedded index, the event log and the lifecycle state each keep an SQLite file in WAL mode
(readers never block the writer) and share this plumbing.

Writers queue on a lock of our own before SQLite's. SQLite serialises writers by itself, but a
writer that finds the file locked sleeps 1, 2, 5, 10, 15, 20, 25, ... ms between tries, so two
ingestor processes that each hold the index's write lock most of the time (a batch writes for
~100 ms) could lose up to 25 ms at each hand-over. The lock here is an ``flock`` on
``<file>-writer`` tried every millisecond, so a waiting writer starts within a millisecond of the
lock coming free, and still gives up with a clear error after ``busy_seconds`` (a writer stuck
while holding it must not hang every other writer for good). The threads of one process queue on
a threading lock first, because an ``flock`` belongs to the open file, which threads share. SQLite's
own lock still protects the file from any writer that does not come through here.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from azul_metastore.errors import BackendUnavailable

#: how often a waiting writer tries the lock again
WRITER_POLL_SECONDS = 0.001


class SqliteFile:
    """Connections to one SQLite file, and its write transactions.

    ``what`` names the file in error messages ("event log"); ``setup`` runs on every new connection
    after the WAL and synchronous pragmas (cache size, SQL functions, ...).
    """

    def __init__(self, path: Path, what: str, setup: Callable[[sqlite3.Connection], None] | None = None,
                 busy_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.what = what
        self._setup = setup
        self._busy_seconds = busy_seconds
        self._local = threading.local()
        self._threads = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._lock_fd: int | None = None
        self._closed = False

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        db = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise BackendUnavailable(f"the {self.what} is closed")
            try:
                db = sqlite3.connect(self.path, timeout=self._busy_seconds, isolation_level=None,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                if self._setup is not None:
                    self._setup(db)
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"cannot open {self.what} {self.path}: {exc}") from exc
            self._local.db = db
            self._all.append(db)
        return db

    @contextmanager
    def exclusive(self) -> Iterator[sqlite3.Connection]:
        """Hold the writer lock without opening a transaction (schema scripts and migrations, which
        manage their own)."""
        db = self.connection()
        with self._threads:
            fd = self._writer_fd()
            self._lock_writer(fd)
            try:
                yield db
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``), committed on return and rolled back on error."""
        with self.exclusive() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise BackendUnavailable(f"{self.what} busy or unavailable: {exc}") from exc
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _lock_writer(self, fd: int) -> None:
        deadline = time.monotonic() + self._busy_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BackendUnavailable(
                        f"{self.what} busy: another writer has held {self.path} for {self._busy_seconds:.0f} s"
                    ) from None
                time.sleep(WRITER_POLL_SECONDS)

    def _writer_fd(self) -> int:
        if self._lock_fd is None:
            try:
                self._lock_fd = os.open(f"{self.path}-writer", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise BackendUnavailable(f"cannot open the writer lock of {self.what} {self.path}: {exc}") from exc
        return self._lock_fd

    def close(self, reopen: bool = False) -> None:
        """Close every thread's connection; later use raises BackendUnavailable unless ``reopen``
        (then a thread's next use opens a new connection)."""
        self._closed = not reopen
        for db in self._all:
            with suppress(sqlite3.Error):
                db.close()
        self._all.clear()
        self._local = threading.local()
        with self._threads:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
