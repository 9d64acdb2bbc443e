"""Background workers of ``serve``: one that fails unexpectedly is started again, not left dead."""

from __future__ import annotations

import threading

from azul_metastore import server
from azul_metastore.server import Worker, start_workers


def test_a_worker_that_fails_is_started_again_until_stopped(monkeypatch) -> None:
    monkeypatch.setattr(server, "WORKER_BACKOFF_MAX", 0.05)
    stop = threading.Event()
    runs: list[int] = []
    done = threading.Event()

    def flaky(stop_event: threading.Event) -> None:
        runs.append(1)
        if len(runs) < 3:
            raise TypeError("an event no one foresaw")
        done.set()
        stop_event.wait()

    (thread,) = start_workers([Worker("ingest-binary", flaky)], stop)
    assert done.wait(10), runs
    stop.set()
    thread.join(10)
    assert len(runs) == 3 and not thread.is_alive()
