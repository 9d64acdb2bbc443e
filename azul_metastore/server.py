"""``serve``: the API, the ingestors and the scheduled jobs in one process.

Background work runs in threads (the ports are synchronous). On SIGTERM/SIGINT uvicorn stops
accepting requests and drains open ones; then the stop event is set and every worker finishes the
batch in hand (an ingestor commits only what it indexed) before the process exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from logging.handlers import TimedRotatingFileHandler
from types import FrameType

import uvicorn

from azul_metastore.api.app import create_app
from azul_metastore.app import Services, build_services, build_workers
from azul_metastore.errors import ConfigError
from azul_metastore.heap import freeze_start_up
from azul_metastore.security import AUDIT_LOGGER
from azul_metastore.settings import Settings

log = logging.getLogger("azul_metastore")


@dataclass
class Worker:
    """A named background loop; ``run`` must return soon after ``stop`` is set."""

    name: str
    run: Callable[[threading.Event], None]


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process would end "killed by
    signal" instead of exiting 0; we take the signals ourselves: first one drains, second forces."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        def handle(sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True
            log.info("received %s, shutting down", signal.Signals(sig).name)

        previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def configure_logging(settings: Settings) -> None:
    level = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(settings.log_level, settings.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_audit(settings)


def configure_audit(settings: Settings) -> None:
    """The audit trail is kept whatever log_level says; with a file it also rotates daily (issue 7).
    Commands that audit without serving (a CLI purge) call this alone."""
    audit_log = logging.getLogger(AUDIT_LOGGER)
    audit_log.setLevel(logging.INFO)
    path = settings.audit_log_file_path
    if path and not any(getattr(h, "baseFilename", None) == os.path.abspath(path) for h in audit_log.handlers):
        try:
            handler = TimedRotatingFileHandler(path, when="midnight", utc=True,
                                               backupCount=settings.audit_log_days_to_retain, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"METASTORE_AUDIT_LOG_FILE_PATH {path!r} cannot be opened: {exc.strerror}") from exc
        handler.setFormatter(logging.Formatter("time=%(asctime)s level=%(levelname)s %(message)s",
                                               "%Y-%m-%dT%H:%M:%S%z"))
        audit_log.addHandler(handler)


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything else starts: a port in use or a host that is not
    this machine's used to surface from uvicorn after the ingestors had started, as its exit 3."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


#: the longest pause before a failed worker is started again
WORKER_BACKOFF_MAX = 60.0


def start_workers(workers: list[Worker], stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for worker in workers:

        def guarded(w: Worker = worker) -> None:
            # a worker that fails unexpectedly is started again (after a pause that grows), never
            # left dead: an ingestor stopped for good indexed nothing more until a restart
            backoff = 1.0
            while not stop.is_set():
                try:
                    w.run(stop)
                    return
                except Exception:
                    log.exception("worker %s stopped with an error; starting it again in %.0f s", w.name, backoff)
                    stop.wait(backoff)
                    backoff = min(WORKER_BACKOFF_MAX, backoff * 2)

        thread = threading.Thread(target=guarded, name=worker.name, daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def run(settings: Settings, host: str, port: int, workers: bool = True) -> None:
    configure_logging(settings)
    sock = listening_socket(host, port)
    try:
        services: Services = build_services(settings)
    except BaseException:
        sock.close()
        raise
    stop = threading.Event()
    built = build_workers(services) if workers else []
    app = create_app(services)
    freeze_start_up()  # full collections would otherwise scan every start-up object (``heap``)
    threads = start_workers(built, stop)  # after the freeze: their first batches are not start-up objects
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False))
    log.info("serving on http://%s:%d (data in %s)", host, sock.getsockname()[1], settings.data_dir)
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        services.close()
        log.info("stopped")
