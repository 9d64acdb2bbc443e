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
from azul_metastore.index.encoder import Encoder
from azul_metastore.index.port import MetadataStore
from azul_metastore.ingest.indexing import MODELS, EventIndexer
from azul_metastore.security import SecurityPolicy
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
    index: MetadataStore
    encoder: Encoder
    security: SecurityPolicy
    _closers: list = field(default_factory=list)

    def indexer(self) -> EventIndexer:
        """A new indexer (each keeps its own dedupe cache, so one per ingestor or request)."""
        return EventIndexer(self.settings, self.encoder, self.index)

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


def build_index(settings: Settings) -> MetadataStore:
    # settings.index_backend is validated against the adapters that exist (only "sqlite" so far)
    from azul_metastore.index.sqlite import SqliteMetadataStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteMetadataStore(settings.index_path)


def build_ingestor(services: Services, model: str):
    from azul_metastore.ingest.ingestor import Ingestor

    return Ingestor(model, services.settings, services.event_log, services.indexer())


def build_workers(services: Services) -> list:
    """The background loops ``serve`` runs beside the API: one ingestor per model (scheduled
    lifecycle jobs join as they are built)."""
    from azul_metastore.server import Worker

    workers: list[Worker] = []
    for model in MODELS:
        ingestor = build_ingestor(services, model)
        workers.append(Worker(f"ingest-{model}", ingestor.run))
    return workers


def build_services(settings: Settings) -> Services:
    event_log = build_event_log(settings)
    intake = EventIntake(settings, event_log)
    dispatch = EventDispatch(event_log, intake)
    blobs = build_blob_store(settings)
    policy = SecurityPolicy.from_settings(settings)
    index = build_index(settings)
    encoder = Encoder(settings, policy)
    services = Services(settings=settings, event_log=event_log, intake=intake, dispatch=dispatch, blobs=blobs,
                        index=index, encoder=encoder, security=policy)
    services._closers.append(event_log.close)
    services._closers.append(blobs.close)
    services._closers.append(index.close)
    return services
