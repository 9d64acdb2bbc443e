"""Running one ingestor as several processes.

Encoding events is pure Python and holds the GIL, so on a multi-core machine the binary ingestor
scales by processes, not threads: each process is a consumer of the same group (the event log hands
each a different batch) and does its own encoding; the index serialises only the writes. The
dedupe cache is per process, so use as few processes as reach the throughput you need.

Each process collects cyclic garbage between batches rather than whenever allocations cross the
collector's threshold: a batch builds hundreds of thousands of short-lived containers, and the
automatic collector kept scanning them (and the long-lived caches) mid-batch, for nothing, since
events and documents are trees that reference counting frees. Measured on the binary path: 8-13%
less CPU per event.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import signal
import threading
import time
from contextlib import suppress
from multiprocessing.connection import Connection

from azul_metastore.heap import freeze_start_up
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)


#: seconds a process has to finish its batch once asked to stop
STOP_SECONDS = 120.0
#: seconds between full collections (young objects are collected after every batch)
FULL_COLLECTION_EVERY = 60.0


class BatchCollector:
    """Cyclic garbage collection at batch boundaries, where almost nothing is alive.

    Creating one takes over the process's collector: start-up objects are frozen (never scanned
    again) and automatic collection is turned off. Call it after each batch.
    """

    def __init__(self) -> None:
        freeze_start_up()
        gc.disable()
        self._last_full = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last_full >= FULL_COLLECTION_EVERY:
            gc.collect()
            self._last_full = now
        else:
            gc.collect(1)


def _child(settings: Settings, model: str, index: int, stop: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from azul_metastore.app import build_ingestor, build_services
    from azul_metastore.server import configure_logging

    configure_logging(settings)
    services = build_services(settings)
    ingestor = build_ingestor(services, model, instance=str(index))
    flag = threading.Event()

    def watch() -> None:
        # A message asks this process to stop; end-of-file says the parent is gone (killed without
        # a chance to ask: the kernel closed its end of the pipe). Nothing here can block on a lock
        # the parent held when it died, which a multiprocessing.Event could.
        with suppress(EOFError, OSError):
            stop.recv()
        flag.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        ingestor.run(flag, between_batches=BatchCollector())
    finally:
        services.close()


def run_processes(settings: Settings, model: str, count: int, stop: threading.Event) -> None:
    """Run ``count`` ingestor processes for ``model`` until ``stop`` is set; each finishes its batch.

    A process that has not stopped ``STOP_SECONDS`` after being asked is killed (it ignores SIGTERM,
    so that a terminal's Ctrl-C reaches the parent only): the batch it held is handed out again.
    """
    context = multiprocessing.get_context("spawn")
    pipes = [context.Pipe(duplex=False) for _ in range(count)]
    children = [
        context.Process(target=_child, args=(settings, model, i, reader), name=f"ingest-{model}-{i}")
        for i, (reader, _) in enumerate(pipes)
    ]
    for child in children:
        child.start()
    for reader, _ in pipes:
        reader.close()  # the children have their own copies
    log.info("ingestor %s running in %d processes", model, count)
    stop.wait()
    for _, writer in pipes:
        with suppress(OSError):  # a child that already died closed its end
            writer.send("stop")
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        child.join(timeout=max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            log.error("ingestor process %s did not stop in %.0f s; killing it", child.name, STOP_SECONDS)
            child.kill()
            child.join()
    for _, writer in pipes:
        writer.close()
