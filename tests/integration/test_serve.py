"""`azul-metastore serve` as an operator runs it: a real process with its ingestors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.security import Access
from tests.conftest import TEST_SOURCES
from tests.support.events import binary_event
from tests.support.server import free_port, wait_for_http

pytestmark = pytest.mark.slow
EXE = Path(sys.executable).parent / "azul-metastore"


def start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    wait_for_http(url)
    return proc, url


def indexed(data: Path) -> int:
    store = SqliteMetadataStore(data / "index.sqlite3")
    try:
        return store.count(None, Access.system_access())
    finally:
        store.close()


def spawned_by(pid: int) -> list[int]:
    """The processes ``pid`` started (serve's binary ingestors and multiprocessing's helper)."""
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def wait_indexed(data: Path, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while (count := indexed(data)) < expected and time.monotonic() < deadline:
        time.sleep(0.3)
    return count


def test_serve_ingests_survives_kill_9_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "METASTORE_DATA_DIR": str(data), "METASTORE_AUTH_OPEN": "true",
           "METASTORE_PROMETHEUS_PORT": "0", "METASTORE_INGEST_POLL_SECONDS": "0.2",
           "METASTORE_SOURCES": json.dumps(TEST_SOURCES)}
    proc, url = start(env)
    try:
        first = [binary_event(author=f"a{i}") for i in range(50)]
        assert httpx.post(f"{url}/api/v2/event", params={"model": "binary"},
                          content=json.dumps(first)).json()["total_ok"] == 50
        assert wait_indexed(data, 50) == 50
        # more events, then the process dies at once, maybe in the middle of a batch
        second = [binary_event(author=f"b{i}") for i in range(2000)]
        httpx.post(f"{url}/api/v2/event", params={"model": "binary"}, content=json.dumps(second), timeout=60)
        ingestors = spawned_by(proc.pid)
        assert len(ingestors) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        # orphaned ingestor processes notice their parent is gone and stop (they used to run on)
        deadline = time.monotonic() + 30
        while any(map(running, ingestors)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(map(running, ingestors))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()

    proc, url = start(env)
    try:
        # the restarted ingestors take back what was handed out but not committed: nothing is lost
        assert wait_indexed(data, 2050) == 2050
        ingestors = spawned_by(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
        proc.stderr.close()
    # a clean stop leaves no process behind: the ingestors are joined before serve exits, and
    # multiprocessing's helper ends when it reads end-of-file from serve, a moment after
    deadline = time.monotonic() + 10
    while any(map(running, ingestors)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120] for pid in ingestors
            if running(pid)}
    assert not left
