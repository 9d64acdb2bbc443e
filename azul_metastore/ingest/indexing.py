"""Turning a batch of events into index documents and writing them: shared by the ingestors and
by API calls that ask for ``refresh`` (their events are indexed before the call returns; those
callers then call ``MetadataStore.refresh()``, since a write is searchable only from the next refresh;
the ingestors never do, they leave it to the index's periodic refresh).

Per batch (inventory §4.6, §5.1):

* binary events are taken newest first, so the newest event wins among those sharing a document id
  (a new plugin version replaces the old one's result);
* events whose submission is older than their source's retention are dropped and counted;
* a bounded dedupe cache skips documents already written by this process with the same id *and*
  author version (``mapped`` events bypass it, as in Azul);
* events the encoder rejects are returned with the reason, for the dead-letter topic.

The Prometheus counters are added to once per batch, after the write: a labelled increment costs a
label look-up and a lock, and the binary path made two per event; a batch whose write fails (and
is handed out again) is not counted twice.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import xxhash

from azul_metastore.index.documents import Document, EncodeError
from azul_metastore.index.encoder import Encoder
from azul_metastore.index.port import MetadataStore
from azul_metastore.ingest import metrics
from azul_metastore.lifecycle.tombstones import drop_buried
from azul_metastore.settings import Settings

MODELS = ("binary", "plugin", "status", "download")


class DedupeCache:
    """Remembers 64-bit digests of recently written (id, version) keys, oldest forgotten first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: dict[int, None] = {}

    def __contains__(self, key: str) -> bool:
        return self.capacity > 0 and xxhash.xxh3_64_intdigest(key.encode()) in self._seen

    def add(self, keys: Sequence[str]) -> None:
        """Remember keys, only once their documents are durably written (a failed write is retried)."""
        if self.capacity <= 0:
            return
        for key in keys:
            if len(self._seen) >= self.capacity:
                del self._seen[next(iter(self._seen))]
            self._seen[xxhash.xxh3_64_intdigest(key.encode())] = None


class Tally:
    """Counter increments of one batch, added to the Prometheus counters at once by :meth:`flush`."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[Any, tuple[str, ...]]] = Counter()

    def __call__(self, metric: Any, *labels: str) -> None:
        self._counts[(metric, labels)] += 1

    def flush(self) -> None:
        for (metric, labels), n in self._counts.items():
            metric.labels(*labels).inc(n)
        self._counts.clear()


@dataclass
class Rejected:
    index: int
    reason: str
    error: str


@dataclass
class IndexResult:
    written: int = 0
    duplicates: int = 0
    aged_off: int = 0
    #: documents dropped because a purge removed them (a replay must not bring them back)
    buried: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _plugin_label(event: dict[str, Any]) -> str:
    author = event.get("author")
    if not isinstance(author, dict):  # a malformed event: the encoder rejects it, this labels its metric
        return "-"
    return f"{author.get('name', '')}-{author.get('version') or ''}"


class EventIndexer:
    """Encodes and writes events of one model. Not thread-safe: one per ingestor."""

    def __init__(self, settings: Settings, encoder: Encoder, store: MetadataStore) -> None:
        self.settings = settings
        self.encoder = encoder
        self.store = store
        self.cache = DedupeCache(settings.dedupe_cache_count)

    def _cutoff_ms(self, source: str) -> int | None:
        cfg = self.settings.sources.get(source)
        if cfg is None or cfg.expire_events_ms < 0:
            return None
        return int(time.time() * 1000) - cfg.expire_events_ms

    def index(self, model: str, events: Sequence[dict[str, Any]]) -> IndexResult:
        result = IndexResult()
        pending: list[str] = []
        count = Tally()
        if model == "binary":
            docs = self._binary(events, result, pending, count)
        else:
            encode = {
                "plugin": self.encoder.encode_plugin,
                "status": self.encoder.encode_status,
                "download": self.encoder.encode_download,
            }[model]
            newest: dict[str, tuple[float, Document]] = {}
            for i, event in enumerate(events):
                try:
                    doc = encode(event)
                except EncodeError as exc:
                    result.rejected.append(Rejected(i, exc.reason, exc.message))
                    count(metrics.INGEST, model, exc.reason, _plugin_label(event))
                    continue
                stamp = _instant(event.get("timestamp"))
                if doc.id not in newest or stamp >= newest[doc.id][0]:
                    newest[doc.id] = (stamp, doc)
                count(metrics.INGEST, model, "success", _plugin_label(event))
            docs = [doc for _, doc in newest.values()]
        docs, result.buried = drop_buried(self.store, docs)
        self.store.write(docs)
        self.cache.add(pending)
        count.flush()
        result.written = len(docs)
        return result

    def _binary(self, events: Sequence[dict[str, Any]], result: IndexResult, pending: list[str],
                count: Tally) -> list[Document]:
        order = sorted(range(len(events)), key=lambda i: _instant(events[i].get("timestamp")), reverse=True)
        docs: dict[str, Document] = {}
        cutoffs: dict[str, int | None] = {}
        for i in order:
            event = events[i]
            label = _plugin_label(event)
            source = event.get("source")
            if not isinstance(source, dict):  # the encoder rejects the event; no source to age it off by
                source = {}
            name = source.get("name", "")
            if name not in cutoffs:
                cutoffs[name] = self._cutoff_ms(name)
            cutoff = cutoffs[name]
            if cutoff is not None and _ms(source.get("timestamp")) < cutoff:
                result.aged_off += 1
                count(metrics.AGED_OFF, label)
                continue
            try:
                encoded = self.encoder.encode_binary(event)
            except EncodeError as exc:
                result.rejected.append(Rejected(i, exc.reason, exc.message))
                count(metrics.INGEST, "binary", exc.reason, label)
                continue
            parent, meta = encoded.parent, encoded.metadata
            if meta.id in docs:  # an older event for a document a newer one already wrote
                result.duplicates += 1
                count(metrics.DUPLICATES, "binary", label)
                continue
            fresh = False
            if parent.id not in docs and parent.id not in self.cache:
                docs[parent.id] = parent
                pending.append(parent.id)
                fresh = True
                count(metrics.INGEST, "binary", "success", "root-binary-creation")
            if encoded.bypass_cache or encoded.cache_key not in self.cache:
                docs[meta.id] = meta
                pending.append(encoded.cache_key)
                fresh = True
            if fresh:
                count(metrics.INGEST, "binary", "success", label)
            else:
                result.duplicates += 1
                count(metrics.DUPLICATES, "binary", label)
        return list(docs.values())


def _instant(text: Any) -> float:
    """Seconds since 1970 of an event's timestamp, for "the newest event wins" (0 when it has none).

    Compared as instants, not as text: events keep the zone their producer wrote
    (``20:00+10:00`` is earlier than ``11:00Z``), and ``12:00:00Z`` sorts after ``12:00:00.5Z`` as text."""
    try:
        ts = datetime.fromisoformat(str(text))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.timestamp()
    except (ValueError, OverflowError):
        return 0.0


def _ms(text: Any) -> int:
    return int(_instant(text) * 1000)
