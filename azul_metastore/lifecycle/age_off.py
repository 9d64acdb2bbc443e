"""Age-off (inventory §5.1): drop what is older than its retention.

One pass, in this order (each step only removes what the previous ones made unnecessary):

1. submissions: per source with ``expire_events_after``, the documents whose ``source.timestamp``
   is at or before ``now - retention``, a page at a time; after each page, every
   (source, label, sha256) those documents listed is deleted from the blob store unless a kept
   document of that source still lists it;
2. statuses older than ``status_expire_events`` (per document, so no partition of extra data lingers);
3. binaries left without any sourced/extracted/mapped document, with their results (enriched and
   other documents), and every stored reference of theirs that no kept document lists;
4. tags of binaries that are gone are disabled (never deleted: an analyst's annotation is kept);
5. the event log is trimmed to the same retentions (Kafka topics also carry ``retention.ms``; the
   embedded log has only this).

Events older than the retention are dropped at ingest as well (``ingest/indexing.py``), so a replay
does not bring aged-off submissions back. ``dry_run`` counts instead of deleting.

The (source, label, sha256) of the bytes each page of deleted documents listed are journalled
(``journal.py``, ``age-off-pass.jsonl`` under ``purge_path``) before the documents go, and the
stored references of the orphans as soon as the index has removed them (in one step, which returns
them). A pass that dies before it has dealt with them (the blob store down, the process killed)
leaves them there, and the next pass deals with them first: nothing else would find them, since
the documents that listed them are gone. Only a death between the orphans' removal and that entry
is not covered. The journal's lock also keeps two passes from running at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azul_metastore.blobs.port import BlobStore
from azul_metastore.errors import InvalidInput, NotFound
from azul_metastore.events import consumers, topics
from azul_metastore.events.port import EventLog
from azul_metastore.index.port import MetadataStore, Selector
from azul_metastore.lifecycle.clock import Clock, SystemClock
from azul_metastore.lifecycle.journal import Journal
from azul_metastore.models.events import utc_iso
from azul_metastore.security import Access
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)

PAGE = 5000


@dataclass
class AgeOffReport:
    """What one pass removed (or, in a dry run, would remove)."""

    dry_run: bool
    cutoffs: dict[str, str] = field(default_factory=dict)
    submissions: dict[str, int] = field(default_factory=dict)
    binaries: dict[str, int] = field(default_factory=dict)
    statuses: int = 0
    orphans: int = 0
    tags_disabled: int = 0
    streams_deleted: int = 0
    streams_kept: int = 0
    trimmed: dict[str, int] = field(default_factory=dict)

    @property
    def documents(self) -> int:
        return sum(self.submissions.values())

    def lines(self) -> list[str]:
        verb = "would delete" if self.dry_run else "deleted"
        out = []
        for source, cutoff in self.cutoffs.items():
            out.append(f"source {source}: {verb} {self.submissions.get(source, 0)} submission documents of "
                       f"{self.binaries.get(source, 0)} binaries submitted at or before {cutoff}")
        out.append(f"statuses: {verb} {self.statuses}")
        if self.dry_run:
            out.append("binaries left without a submission, their results and bytes: counted when run for real")
        else:
            out.append(f"binaries without any submission left: {self.orphans} removed with their results")
            out.append(f"stored streams: {self.streams_deleted} deleted, {self.streams_kept} still referenced")
            out.append(f"tags of removed binaries disabled: {self.tags_disabled}")
            for topic, n in sorted(self.trimmed.items()):
                out.append(f"event log topic {topic}: {n} records trimmed")
        return out


class AgeOff:
    """Runs age-off passes against the ports; ``access`` must be system access."""

    def __init__(self, settings: Settings, index: MetadataStore, blobs: BlobStore, event_log: EventLog,
                 access: Access, clock: Clock | None = None) -> None:
        self.settings = settings
        self.index = index
        self.blobs = blobs
        self.event_log = event_log
        self.access = access
        self.clock = clock or SystemClock()

    def run(self, dry_run: bool = False) -> AgeOffReport:
        if dry_run:
            return self._pass(None)
        with Journal.open(self.settings.purge_path, "pass", prefix="age-off") as journal:
            report = self._pass(journal)
            journal.discard()
        return report

    def _pass(self, journal: Journal | None) -> AgeOffReport:
        """One pass; deleting (with the journal) or counting (without)."""
        dry_run = journal is None
        now = self.clock.now()
        report = AgeOffReport(dry_run=dry_run)
        # selection is by search: make everything written so far searchable, so a pass sees it all
        self.index.refresh()
        if journal is not None and (left := {(source, label, sha) for e in journal.of_type("streams")
                                             for source, label, sha in e["triples"]}):
            log.warning("age-off: %d stored streams left by an interrupted pass are dealt with first", len(left))
            self._delete_streams(left, now, report)
        for name, source in sorted(self.settings.sources.items()):
            if source.expire_events_ms <= 0:
                continue
            cutoff = utc_iso(now - timedelta(milliseconds=source.expire_events_ms))
            report.cutoffs[name] = cutoff
            selector = Selector(source_name=name, source_timestamp_before=cutoff)
            if journal is None:
                report.submissions[name], report.binaries[name] = self.index.count_selected(selector)
            else:
                report.submissions[name], report.binaries[name] = self._expire_source(selector, now, report,
                                                                                       journal)
            log.info("age-off %s: %d documents of source %s at or before %s",
                     "would remove" if dry_run else "removed", report.submissions[name], name, cutoff)
        status_ms = self.settings.status_expire_events_ms
        if status_ms > 0:
            cutoff = utc_iso(now - timedelta(milliseconds=status_ms))
            report.statuses = (self.index.count_statuses_before(cutoff) if dry_run
                               else self.index.delete_statuses_before(cutoff))
        if journal is None:
            return report
        orphans = self.index.delete_orphans()
        report.orphans = len(orphans)
        refs = self._refs_of(orphans)
        journal.append({"type": "streams", "triples": sorted(refs)})
        self._delete_streams(refs, now, report)
        report.tags_disabled = self._disable_tags()
        report.trimmed = self._trim(now)
        return report

    # --- steps ---------------------------------------------------------------------------------

    def _expire_source(self, selector: Selector, now: datetime, report: AgeOffReport,
                       journal: Journal) -> tuple[int, int]:
        documents, binaries = 0, set()
        while docs := self.index.select(selector, limit=PAGE):
            streams = _streams(docs)
            journal.append({"type": "streams", "triples": sorted(streams)})  # before the documents go
            self.index.delete(Selector(doc_ids=[d["id"] for d in docs]))
            documents += len(docs)
            binaries.update(d["sha256"] for d in docs)
            self._delete_streams(streams, now, report)
        return documents, len(binaries)

    def _refs_of(self, sha256s: Iterable[str]) -> set[tuple[str, str, str]]:
        return {(r.source, r.label, r.sha256) for sha in sha256s for r in self.blobs.iter_refs(sha256=sha)}

    def _delete_streams(self, triples: set[tuple[str, str, str]], now: datetime, report: AgeOffReport) -> None:
        """Delete references that no kept document of their source lists any more."""
        listed: dict[str, set[tuple[str, str]]] = {}
        for source, label, sha in sorted(triples):
            if sha not in listed:
                listed[sha] = set(self.index.stream_sources(sha, self.access, limit=None))
            if (source, label) in listed[sha]:
                report.streams_kept += 1
                continue
            try:
                deleted = self.blobs.delete(source, label, sha, if_older_than=now)
            except (NotFound, InvalidInput):
                continue
            if deleted:
                report.streams_deleted += 1
            else:
                report.streams_kept += 1

    def _disable_tags(self) -> int:
        tags = self.index.annotations(self.access, kind="entity_tag")
        by_sha: dict[str, set[str]] = {}
        for tag in tags:
            if tag.get("sha256") and tag.get("tag"):
                by_sha.setdefault(tag["sha256"], set()).add(tag["tag"])
        wanted = sorted(by_sha)
        present: set[str] = set()
        for i in range(0, len(wanted), 500):
            present.update(d["sha256"] for d in self.index.documents(wanted[i:i + 500], self.access))
        disabled = 0
        for sha in wanted:
            if sha in present:
                continue
            for tag in sorted(by_sha[sha]):
                disabled += self.index.disable_annotations(kind="entity_tag", tag=tag, sha256=sha)
        return disabled

    def _trim(self, now: datetime) -> dict[str, int]:
        """Trim the event log: statuses to their retention, binary-like topics to the longest source
        retention (only when every source has one: a keep-forever source keeps its events)."""
        now_ms = int(now.timestamp() * 1000)
        expiries = [s.expire_events_ms for s in self.settings.sources.values()]
        events_ms = max(expiries) if expiries and min(expiries) > 0 else -1
        trimmed: dict[str, int] = {}
        for topic in self.event_log.topics():
            if topic == topics.STATUS:
                retention = self.settings.status_expire_events_ms
            elif topic == topics.CONSUMERS:
                retention = consumers.KEPT_MS
            elif topic == topics.DEAD_LETTER or topic == topics.PLUGIN:
                continue
            else:
                retention = events_ms
            if retention <= 0:
                continue
            n = self.event_log.trim(topic, now_ms - retention)
            if n:
                trimmed[topic] = n
        return trimmed


def _streams(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(d["source"], s["label"], s["sha256"]) for d in docs if d.get("source")
            for s in d.get("datastreams") or () if s.get("label") and s.get("sha256")}
