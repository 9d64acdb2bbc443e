"""Which plugins consume binary events, with the filters they ask for: the registry behind the
dispatcher's ``POST /api/v2/event/simulate``.

Azul's dispatcher remembers each consumer (name, version) with the parameters of its fetches, so
that it can say of any event which plugins would take it and which filter would drop it. Plugins
send their filters with every fetch, so this registry learns them the same way: a fetch records
its consumer's filters on the ``consumers`` topic of the event log when they change, and again
when the last record is older than :data:`REFRESH` (so a consumer that stops fetching drops out
after :data:`SEEN_WITHIN`). The log is shared by every process of a deployment, on both backends;
readers fold its records into the newest filters per consumer, reading only what is new each time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from azul_metastore.events import topics
from azul_metastore.events.port import EventLog, Message

__all__ = ["KEPT_MS", "REFRESH", "SEEN_WITHIN", "Consumer", "ConsumerRegistry"]

#: a consumer's filters are recorded again after this long, though unchanged
REFRESH = 6 * 3600.0
#: consumers not recorded for this long have stopped fetching: they are no longer listed
SEEN_WITHIN = 3 * 24 * 3600.0
#: how long the topic keeps records (age-off trims it; Kafka compacts it and deletes past this)
KEPT_MS = int(2 * SEEN_WITHIN * 1000)
#: records read from the topic at once
_READ = 1000


@dataclass(frozen=True)
class Consumer:
    """A consumer of binary events and the filter parameters of its latest fetch (as sent)."""

    name: str
    version: str
    filters: Mapping[str, Any]
    seen: float


class ConsumerRegistry:
    """Records consumers' filters on the event log and reads them back. Thread-safe."""

    def __init__(self, event_log: EventLog, clock: Any = time.time) -> None:
        self.event_log = event_log
        self.clock = clock
        self._lock = threading.Lock()
        self._recorded: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._known: dict[tuple[str, str], Consumer] = {}
        self._offset = 0

    def record(self, name: str, version: str, filters: Mapping[str, Any]) -> None:
        """Note the filters of a fetch: appended when they changed or the last record is old."""
        key = (name, version)
        body = orjson.dumps(dict(filters), option=orjson.OPT_SORT_KEYS)
        now = self.clock()
        with self._lock:
            last = self._recorded.get(key)
            if last is not None and last[0] == body and now - last[1] < REFRESH:
                return
            self._recorded[key] = (body, now)
        value = orjson.dumps({"name": name, "version": version, "filters": orjson.loads(body), "seen": now})
        self.event_log.append(topics.CONSUMERS, [Message(f"{name}.{version}", value)])

    def consumers(self) -> list[Consumer]:
        """The consumers seen within :data:`SEEN_WITHIN`, with their newest filters, by name and version."""
        with self._lock:
            end = self.event_log.end_offset(topics.CONSUMERS)
            while self._offset < end:
                records = self.event_log.read(topics.CONSUMERS, self._offset, _READ)
                if not records:  # trimmed below the offset asked for: go on from what is there
                    break
                for record in records:
                    self._fold(record.value)
                self._offset = records[-1].offset + 1
            oldest = self.clock() - SEEN_WITHIN
            return sorted((c for c in self._known.values() if c.seen >= oldest), key=lambda c: (c.name, c.version))

    def _fold(self, value: bytes) -> None:
        try:
            data = orjson.loads(value)
            consumer = Consumer(str(data["name"]), str(data["version"]), dict(data["filters"]), float(data["seen"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return  # not a registration (another producer's record): nothing to learn from it
        key = (consumer.name, consumer.version)
        known = self._known.get(key)
        if known is None or consumer.seen >= known.seen:
            self._known[key] = consumer
