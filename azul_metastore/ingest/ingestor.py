"""An ingestor: a consumer group on the event log that indexes one event model.

The loop is fetch → index → dead-letter the rejects → commit. The commit comes last, only after
the index write returned (durable and searchable), so a crash anywhere before it makes the log hand
the same batch out again, and the idempotent upserts make the second pass end in the same index.
A failure of the index itself (not of an event) releases the batch and backs off; nothing is
skipped. An index that *refuses* a batch (a 400: say a plugin's feature names overflow the
mapping's field limit) would refuse it again on every retry and stop the ingestor for good, so the
batch is split in halves until the events it refuses are alone; those go to the dead letters
(``index_refused``, with the index's message) and the rest is indexed. Refusals are the index's
400 and 422 answers (``InvalidInput``); an index that is down or overloaded is retried instead.

The group is ``ingestor-{partition}-{model}-{ingestor_version_suffix}``: bumping the suffix gives a
new group, which replays the whole retained history (Azul's documented re-index mechanism).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable

import orjson

from azul_metastore.errors import InvalidInput, MetastoreError
from azul_metastore.events import topics
from azul_metastore.events.port import EventLog, Message, Record
from azul_metastore.ingest import metrics
from azul_metastore.ingest.indexing import MODELS, EventIndexer, Rejected
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)

#: seconds between progress lines in the log
PROGRESS_EVERY = 10.0
#: longest back-off after the index fails
MAX_BACKOFF = 30.0


def model_topics(model: str) -> list[str]:
    """Ingestors read the expedite lane and the main binary topic (retry lanes are plugin work)."""
    if model == "binary":
        return [topics.BINARY_EXPEDITE, topics.BINARY]
    return [topics.MODEL_TOPICS[model]]


#: the most a dead letter adds to the event it holds (topic, offset, reason, an error of at most
#: ERROR_KEPT characters, or RAW_KEPT bytes of a record that is not an event, JSON-escaped)
DEAD_LETTER_OVERHEAD = 64 * 1024
ERROR_KEPT = 4096
RAW_KEPT = 8192


def dead_letter(record: Record, reason: str, error: str, max_event_bytes: int) -> Message:
    """The dead letter of ``record``: the event itself when it is JSON no larger than intake takes,
    else the start of the record (its topic and offset point to the whole while the log keeps it).

    Bounded so the dead letter is always writable: a record of several MB written to the log by
    something other than intake made a dead letter over Kafka's record limit, and the ingestor
    retried that write, and its batch, for ever."""
    value: dict[str, object] = {"topic": record.topic, "offset": record.offset, "key": record.key,
                                "reason": reason, "error": error[:ERROR_KEPT]}
    if len(record.value) <= max_event_bytes:
        with contextlib.suppress(orjson.JSONDecodeError):
            value["event"] = orjson.loads(record.value)
            out = orjson.dumps(value)
            # written back, JSON can grow (``1E5`` becomes ``100000.0``): kept whole only if it fits
            if len(out) <= max_event_bytes + DEAD_LETTER_OVERHEAD // 2:
                return Message(record.key, out)
            del value["event"]
    value["raw"] = record.value[:RAW_KEPT].decode("utf-8", "replace")
    if len(record.value) > RAW_KEPT:
        value["raw_bytes"] = len(record.value)
    return Message(record.key, orjson.dumps(value))


class Ingestor:
    def __init__(self, model: str, settings: Settings, event_log: EventLog, indexer: EventIndexer,
                 instance: str = "") -> None:
        if model not in MODELS:
            raise ValueError(f"no ingestor for {model!r}; models: {', '.join(MODELS)}")
        self.model = model
        self.settings = settings
        self.event_log = event_log
        self.indexer = indexer
        self.group = f"{topics.INGESTOR_GROUPS}{settings.partition}-{model}-{settings.ingestor_version_suffix}"
        # stable across restarts, so a restarted ingestor takes back the batch it held when it died
        self.consumer = f"{self.group}@{socket.gethostname()}{'#' + instance if instance else ''}"
        self.topics = model_topics(model)
        self.processed = 0

    def run_once(self, wait: float | None = None) -> int:
        """Index one batch; return how many events it held (0 when none arrived in time)."""
        batch = self.event_log.fetch(
            self.group, self.topics, self.settings.ingest_batch_size,
            self.settings.ingest_poll_seconds if wait is None else wait, consumer=self.consumer,
        )
        if not batch.records:
            return 0
        events, dead, parsed_from = [], [], []
        limit = self.settings.max_event_bytes
        for record in batch.records:
            try:
                event = orjson.loads(record.value)
            except orjson.JSONDecodeError as exc:
                dead.append(dead_letter(record, "bad_json", f"not JSON: {exc}", limit))
                continue
            if not isinstance(event, dict):
                dead.append(dead_letter(record, "bad_shape", f"a {self.model} event must be a JSON object,"
                                                             f" not {type(event).__name__}", limit))
                continue
            events.append(event)
            parsed_from.append(record)
        try:
            rejects = self._index(events, 0)
        except MetastoreError:
            self.event_log.release(batch)
            raise
        for rejected in rejects:
            dead.append(dead_letter(parsed_from[rejected.index], rejected.reason, rejected.error, limit))
            metrics.DEAD_LETTERS.labels(self.model, rejected.reason).inc()
        if dead:
            self.event_log.append(topics.DEAD_LETTER, dead)
        self.event_log.commit(batch)
        self.processed += len(batch.records)
        return len(batch.records)

    def _index(self, events: list[dict], offset: int) -> list[Rejected]:
        """Index ``events``; the rejects, numbered from ``offset``. Halves a batch the index refuses."""
        try:
            result = self.indexer.index(self.model, events)
        except (InvalidInput, TypeError, ValueError, OverflowError) as exc:
            # the index refused the batch, or an event could not be encoded (a bug the encoder did
            # not foresee, such as a number no JSON packer takes): halve until it is alone, so one
            # event never stops the ingestor for good
            reason = "index_refused" if isinstance(exc, InvalidInput) else "index_error"
            if len(events) == 1:
                log.error("ingestor %s: an event could not be indexed (%s): %s", self.model, reason, exc)
                return [Rejected(offset, reason, f"{type(exc).__name__}: {exc}" if reason == "index_error"
                                 else str(exc))]
            half = len(events) // 2
            return self._index(events[:half], offset) + self._index(events[half:], offset + half)
        return [Rejected(offset + r.index, r.reason, r.error) for r in result.rejected]

    def run(self, stop: threading.Event, between_batches: Callable[[], None] | None = None) -> None:
        """Loop until ``stop`` is set; the batch in hand is always finished first.

        ``between_batches`` runs after every batch (a dedicated ingestor process collects garbage there).
        """
        log.info("ingestor %s started (group %s, topics %s)", self.model, self.group, self.topics)
        last_report, reported, backoff = time.monotonic(), 0, 1.0
        while not stop.is_set():
            try:
                self.run_once()
                backoff = 1.0
            except MetastoreError as exc:
                log.error("ingestor %s: %s; retrying in %.0f s", self.model, exc, backoff)
                stop.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            if between_batches is not None:
                between_batches()
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY and self.processed != reported:
                rate = (self.processed - reported) / (now - last_report)
                log.info("ingestor %s: %d events so far, %.0f/s", self.model, self.processed, rate)
                last_report, reported = now, self.processed
        log.info("ingestor %s stopped after %d events", self.model, self.processed)
