"""The shared SQLite plumbing (sqlite_file.py): a connection per thread, one writer at a time
across handles (two handles on one file stand in for two processes: their flocks conflict)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from azul_metastore.errors import BackendUnavailable
from azul_metastore.sqlite_file import SqliteFile


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "x.sqlite3"
    with SqliteFile(path, "test file").write() as db:
        db.execute("CREATE TABLE t (who TEXT, at REAL)")
    return path


def test_a_second_writer_waits_for_the_first_and_then_writes(path: Path) -> None:
    first, second = SqliteFile(path, "test file"), SqliteFile(path, "test file")
    released: list[float] = []

    def write_second() -> None:
        with second.write() as db:
            db.execute("INSERT INTO t VALUES ('second', ?)", (time.monotonic(),))

    with first.write() as db:
        db.execute("INSERT INTO t VALUES ('first', ?)", (time.monotonic(),))
        waiter = threading.Thread(target=write_second)
        waiter.start()
        time.sleep(0.2)
        assert waiter.is_alive()  # queued on the writer lock, not failed
        released.append(time.monotonic())
    waiter.join(timeout=10)
    rows = first.connection().execute("SELECT who, at FROM t ORDER BY at").fetchall()
    assert [who for who, _ in rows] == ["first", "second"]
    assert rows[1][1] >= released[0]


def test_a_failed_transaction_rolls_back_and_releases_the_lock(path: Path) -> None:
    file = SqliteFile(path, "test file")
    with pytest.raises(RuntimeError), file.write() as db:
        db.execute("INSERT INTO t VALUES ('lost', 0)")
        raise RuntimeError("boom")
    other = SqliteFile(path, "test file")
    with other.write() as db:
        db.execute("INSERT INTO t VALUES ('kept', 0)")
    assert [r[0] for r in file.connection().execute("SELECT who FROM t")] == ["kept"]


def test_threads_get_their_own_connections(path: Path) -> None:
    file = SqliteFile(path, "test file")
    mine = file.connection()
    theirs: list[object] = []
    thread = threading.Thread(target=lambda: theirs.append(file.connection()))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert file.connection() is mine


def test_closed_for_good_or_for_reopening(path: Path) -> None:
    file = SqliteFile(path, "test file")
    file.connection()
    file.close(reopen=True)
    assert file.connection().execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    file.close()
    with pytest.raises(BackendUnavailable, match="the test file is closed"):
        file.connection()


def test_an_unopenable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="cannot open test file"):
        SqliteFile(tmp_path / "missing" / "x.sqlite3", "test file").connection()


def test_a_writer_stuck_holding_the_lock_makes_others_fail_clearly(path: Path) -> None:
    stuck, waiting = SqliteFile(path, "test file"), SqliteFile(path, "test file", busy_seconds=0.3)
    with stuck.write():
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="test file busy: another writer has held"), waiting.write():
            pass
        assert 0.3 <= time.monotonic() - started < 5
    with waiting.write() as db:  # free again
        db.execute("INSERT INTO t VALUES ('after', 0)")
