"""Source and statistics reads (inventory §2.7, §2.8, §6.11).

The list of sources is configuration and the same for everyone; what was submitted to a source
(newest submission, how many binaries, reference sets) comes from the index and is filtered by the
caller's access like every other read. So is the statistics count: Azul counted every binary with
its writer account whatever the caller could see (inventory §11 item 36), which told anybody how many
binaries they were not allowed to see; here the count covers only what the caller can see.
"""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime
from typing import Any

from azul_metastore.errors import NotFound
from azul_metastore.index.port import MetadataStore, ReferenceGroup
from azul_metastore.search.models_features import (
    GroupedReferences,
    References,
    ReferenceSet,
    ReferenceSetGrouped,
    SourceInfo,
    StatisticSummary,
)
from azul_metastore.security import Access
from azul_metastore.settings import Settings

__all__ = [
    "all_sources",
    "grouped_references",
    "read_source",
    "references",
    "require_source",
    "source_exists",
    "statistics",
    "submissions",
]

#: reference groups per answer (as Azul)
GROUP_LIMIT = 100
#: how long a caller's binary count is reused: counting every binary is the costliest read here,
#: and the UI asks on every page load (Azul cached it for 30 minutes, for everybody at once)
STATISTICS_TTL_SECONDS = 60.0


def all_sources(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every configured source in Azul's settings form (with ``kafka_config_full`` and
    ``expire_events_ms``). Raises NotFound when none are configured."""
    if not settings.sources:
        raise NotFound("no sources are configured (METASTORE_SOURCES)")
    return {name: source.dump() for name, source in settings.sources.items()}


def source_exists(settings: Settings, name: str) -> bool:
    return name in settings.sources


def require_source(settings: Settings, name: str) -> None:
    """Raise NotFound naming the configured sources unless ``name`` is one."""
    if name not in settings.sources:
        raise NotFound(f"source {name!r} is not configured; configured: {', '.join(sorted(settings.sources))}",
                       source=name)


def read_source(index: MetadataStore, settings: Settings, name: str, access: Access) -> SourceInfo:
    """The newest visible direct submission to a source and how many binaries were submitted."""
    require_source(settings, name)
    newest, count = index.source_summary(name, access)
    return SourceInfo(name=name, newest=newest, num_entities=count)


def _reference_set(group: ReferenceGroup) -> dict[str, Any]:
    # counts are exact here, never the "at least" of a capped aggregation
    return {"timestamp": group.timestamp or "", "num_entities": group.num_entities, "num_entities_min": False,
            "values": group.values}


def references(index: MetadataStore, settings: Settings, name: str, access: Access,
               term: str | None = None) -> References:
    """The 100 newest reference sets submitted to a source; ``term`` keeps sets with a reference
    value containing it (case-insensitive). Empty (not 404) for a configured source with none."""
    require_source(settings, name)
    groups = index.source_references(name, access, term=term or None, limit=GROUP_LIMIT)
    return References(items=[ReferenceSet(track_source_references=g.key, **_reference_set(g)) for g in groups])


def grouped_references(index: MetadataStore, settings: Settings, name: str, access: Access,
                       term: str | None = None) -> GroupedReferences:
    """As :func:`references`, grouped by the source's priority references."""
    require_source(settings, name)
    groups = index.source_references(name, access, grouped=True, term=term or None, limit=GROUP_LIMIT)
    return GroupedReferences(items=[ReferenceSetGrouped(track_source_references_grouped=g.key, **_reference_set(g))
                                    for g in groups])


def submissions(index: MetadataStore, settings: Settings, name: str, access: Access, *,
                track_source_references: str | None = None, timestamp: datetime | None = None) -> References:
    """Submissions to a source, one per (reference set, submission time), newest first."""
    require_source(settings, name)
    groups = index.source_submissions(name, access, track_source_references=track_source_references or None,
                                      timestamp=timestamp.isoformat() if timestamp else None, limit=GROUP_LIMIT)
    return References(items=[ReferenceSet(track_source_references=g.key, **_reference_set(g)) for g in groups])


class _CountCache:
    """Binary counts per access (labels and filters), each kept STATISTICS_TTL_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], tuple[float, int]] = {}

    def get(self, key: tuple[Any, ...]) -> int | None:
        with self._lock:
            hit = self._entries.get(key)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def put(self, key: tuple[Any, ...], value: int) -> None:
        with self._lock:
            if len(self._entries) > 1000:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + STATISTICS_TTL_SECONDS, value)


#: one cache per index, dropped with it (tests build many indexes in one process)
_counts: weakref.WeakKeyDictionary[Any, _CountCache] = weakref.WeakKeyDictionary()


def statistics(index: MetadataStore, access: Access) -> StatisticSummary:
    """How many binaries the caller can see (at most a minute old)."""
    cache = _counts.setdefault(index, _CountCache())
    key = (access.labels, access.exclude, access.include, access.system)
    count = cache.get(key)
    if count is None:
        count = index.count(None, access, require_submission=False)
        cache.put(key, count)
    return StatisticSummary(binary_count=count)
