"""The composition root: the one place that turns Settings into adapters and services.

Nothing else chooses a backend. Adapters for the scale-out engines are imported lazily here, so an
embedded (SQLite) install never imports opensearch-py, confluent-kafka or boto3.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from azul_metastore.blobs.port import BlobStore
from azul_metastore.events.dispatch import EventDispatch
from azul_metastore.events.intake import EventIntake
from azul_metastore.events.port import EventLog
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)


def build_event_log(settings: Settings) -> EventLog:
    # settings.events_backend is validated against the adapters that exist (only "sqlite" so far)
    from azul_metastore.events.sqlite import SqliteEventLog

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteEventLog(settings.events_path)


@dataclass
class Services:
    """Everything the API, the CLI and the background jobs need, built once per process."""

    settings: Settings
    event_log: EventLog
    intake: EventIntake
    dispatch: EventDispatch
    blobs: BlobStore
    _closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.exception("error while closing %s", close)


def build_blob_store(settings: Settings) -> BlobStore:
    # settings.blob_backend is validated against the adapters that exist (only "filesystem" so far)
    from azul_metastore.blobs.filesystem import FileSystemBlobStore

    return FileSystemBlobStore(settings.blobs_path)


def build_workers(services: Services) -> list:
    """The background loops ``serve`` runs beside the API (ingestors, scheduled lifecycle jobs)."""
    from azul_metastore.server import Worker

    workers: list[Worker] = []
    return workers


def build_services(settings: Settings) -> Services:
    event_log = build_event_log(settings)
    intake = EventIntake(settings, event_log)
    dispatch = EventDispatch(event_log, intake)
    blobs = build_blob_store(settings)
    services = Services(settings=settings, event_log=event_log, intake=intake, dispatch=dispatch, blobs=blobs)
    services._closers.append(event_log.close)
    services._closers.append(blobs.close)
    return services
