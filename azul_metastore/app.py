"""The composition root: the one place that turns Settings into adapters and services.

Nothing else chooses a backend. Adapters for the scale-out engines are imported lazily here, so an
embedded (SQLite) install never imports opensearch-py, confluent-kafka or boto3.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from azul_metastore.blobs.port import BlobStore
from azul_metastore.errors import ConfigError
from azul_metastore.events.dispatch import EventDispatch
from azul_metastore.events.intake import EventIntake
from azul_metastore.events.port import EventLog
from azul_metastore.index.encoder import Encoder
from azul_metastore.index.port import MetadataStore
from azul_metastore.ingest.indexing import MODELS, EventIndexer
from azul_metastore.ingest.ingestor import DEAD_LETTER_OVERHEAD
from azul_metastore.security import Authenticator, SecurityPolicy
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)


def build_event_log(settings: Settings) -> EventLog:
    if settings.events_backend == "kafka":
        try:
            from azul_metastore.events.kafka import KafkaEventLog
        except ImportError as exc:
            raise ConfigError(f"METASTORE_EVENTS_BACKEND=kafka needs confluent-kafka ({exc}); "
                              "install it with: pip install confluent-kafka") from exc
        return KafkaEventLog(settings.kafka_bootstrap_servers, settings.kafka_topic_prefix, settings.partition,
                             topic_config=kafka_topic_config(settings),
                             max_message_bytes=kafka_max_message_bytes(settings))
    from azul_metastore.events.sqlite import SqliteEventLog

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteEventLog(settings.events_path)


def kafka_max_message_bytes(settings: Settings) -> int:
    """The largest Kafka record: an event intake accepts, wrapped in a dead letter (ingest/ingestor.py)."""
    return settings.max_event_bytes + DEAD_LETTER_OVERHEAD


def kafka_topic_config(settings: Settings) -> Callable[[str], dict[str, str]]:
    """Retention and record size of each Kafka topic, set when the topic is created and again
    (to the settings of the day) when a process first uses it.

    Topics are per event model, not per source, so an event topic keeps records as long as the
    longest-lived source asks (forever if any source never expires); age-off trims the rest. Status
    events follow ``status_expire_events``. Plugin registrations are never aged off (as in the
    embedded log) and the dead-letter topic is kept until someone handles it. Records may be as
    large as intake accepts (``max_event_bytes``; Kafka's default is 1 MB).
    """
    from azul_metastore.events import consumers, topics

    expiries = [source.expire_events_ms for source in settings.sources.values()]
    events_ms = -1 if not expiries or min(expiries) < 0 else max(expiries)
    kept = {topics.STATUS: settings.status_expire_events_ms, topics.DEAD_LETTER: -1, topics.PLUGIN: -1,
            topics.CONSUMERS: consumers.KEPT_MS}

    def config(topic: str) -> dict[str, str]:
        # consumer registrations: the newest per consumer is what counts (compacted)
        policy = "compact,delete" if topic == topics.CONSUMERS else "delete"
        return {"cleanup.policy": policy, "retention.ms": str(kept.get(topic, events_ms)),
                "max.message.bytes": str(kafka_max_message_bytes(settings))}

    return config


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
    authenticator: Authenticator
    _closers: list = field(default_factory=list)

    @property
    def policy(self) -> SecurityPolicy:
        """The label vocabulary and rules (the same object as ``security``)."""
        return self.security

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
    if settings.blob_backend == "s3":
        try:
            from azul_metastore.blobs.s3 import S3BlobStore, new_client
        except ImportError as exc:
            raise ConfigError(f"METASTORE_BLOB_BACKEND=s3 needs boto3 ({exc}); install it with: pip install boto3"
                              ) from exc
        client = new_client(settings.s3_endpoint_url, settings.s3_access_key,
                            settings.s3_secret_key.get_secret_value(), settings.s3_region)
        return S3BlobStore(client, settings.s3_bucket, create_bucket=True)
    from azul_metastore.blobs.filesystem import FileSystemBlobStore

    return FileSystemBlobStore(settings.blobs_path)


def build_index(settings: Settings) -> MetadataStore:
    if settings.index_backend == "opensearch":
        return build_opensearch_index(settings)
    from azul_metastore.index.sqlite import SqliteMetadataStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteMetadataStore(settings.index_path)


def build_opensearch_index(settings: Settings, *, initialise: bool = True) -> MetadataStore:
    """The OpenSearch adapter on ``azul.{partition}.*``, templates checked (or created) first.

    Documents within ``security_minimum_required_access`` go to the open indices (§4.1).
    """
    try:
        from azul_metastore.index.opensearch import OpenSearchMetadataStore
        from azul_metastore.index.opensearch.client import client_from_settings
    except ImportError as exc:
        raise ConfigError(f"METASTORE_INDEX_BACKEND=opensearch needs opensearch-py ({exc}); "
                          "install it with: pip install opensearch-py") from exc
    from azul_metastore.security import safe_label

    policy = SecurityPolicy.from_settings(settings)
    return OpenSearchMetadataStore(
        client_from_settings(settings), settings.partition, shards=settings.opensearch_shards,
        replicas=settings.opensearch_replicas, binary_layout=settings.opensearch_binary_indices,
        open_labels=frozenset(safe_label(x) for x in policy.minimum_required_access),
        enforced=frozenset(safe_label(x) for x in policy.vocab.enforced_tlps), initialise=initialise)


def build_ingestor(services: Services, model: str, instance: str = ""):
    from azul_metastore.ingest.ingestor import Ingestor

    return Ingestor(model, services.settings, services.event_log, services.indexer(), instance=instance)


def build_workers(services: Services) -> list:
    """The background loops ``serve`` runs beside the API: one ingestor per model (scheduled
    lifecycle jobs join as they are built)."""
    from azul_metastore.server import Worker

    workers: list[Worker] = []
    for model in MODELS:
        processes = services.settings.ingest_binary_processes if model == "binary" else 1
        if processes > 1:
            from azul_metastore.ingest.processes import run_processes

            def run(stop, model=model, processes=processes):
                run_processes(services.settings, model, processes, stop)

            workers.append(Worker(f"ingest-{model}", run))
        else:
            workers.append(Worker(f"ingest-{model}", build_ingestor(services, model).run))
    from azul_metastore.lifecycle.jobs import workers as lifecycle_workers

    workers += lifecycle_workers(services)  # age-off and lost-task processing on their schedules
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
                        index=index, encoder=encoder, security=policy, authenticator=Authenticator(settings))
    services._closers.append(event_log.close)
    services._closers.append(blobs.close)
    services._closers.append(index.close)
    return services
