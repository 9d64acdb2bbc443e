"""Purge (inventory §5.2): delete a binary, a submission, an author's output or a link, with every
descendant left without another parent, their results, statuses and bytes.

A real purge, step by step (each step journalled before it acts, see ``journal.py``):

1. publish an Azul ``DeleteEvent`` (submission, link, author: the dispatcher's "graveyard" record;
   Azul's model has no binary action, so a binary purge relies on the tombstones alone);
2. for a submission, link or author purge, a tombstone rule (``tombstones.py``): the events of
   what it names that are still in the log, not yet indexed, are dropped when they are;
3. rounds of: select matching documents (a page at a time), journal them, bury their ids
   (``MetadataStore.bury``: a replay of the event log cannot write them back), delete them by id.
   Rounds repeat until nothing matches, catching documents an ingestor wrote meanwhile;
4. cascade: every binary touched that has no sourced/extracted/mapped document left lost its last
   submission - its remaining documents (results), its statuses and the link documents below it go,
   and its children are examined the same way (a child with another parent survives);
5. bytes: every (source, label, sha256) of a deleted document, and every stored reference of a
   binary that went, is deleted from the blob store unless a remaining document of that source
   still lists it (``if_older_than`` the purge start, so a re-upload during the purge survives).

Run again after a crash, the same request resumes its journal: the deletes are idempotent, and the
cascade and byte steps start again from everything the journal recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from azul_metastore.blobs.port import BlobStore
from azul_metastore.errors import BadRequest, InvalidInput, NotFound
from azul_metastore.events.intake import EventIntake
from azul_metastore.index.port import MetadataStore, Selector
from azul_metastore.index.timestamps import parse_timestamp, to_utc_text
from azul_metastore.lifecycle.clock import Clock, SystemClock
from azul_metastore.lifecycle.journal import Journal, read_entries, request_key
from azul_metastore.lifecycle.tombstones import RULE_KINDS, purge_rule
from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    Author,
    DeleteAction,
    DeleteAuthor,
    DeleteEntity,
    DeleteEvent,
    DeleteLink,
    DeleteSubmission,
    utc_iso,
)
from azul_metastore.security import Access

log = logging.getLogger(__name__)

PurgeKind = Literal["binary", "submission", "author", "link"]
#: documents selected, journalled and deleted per step
PAGE = 1000
#: selection rounds (Azul: 9) - each catches documents that arrived during the previous one
MAX_ROUNDS = 9
SUBMISSION_ACTIONS = ("sourced", "extracted", "mapped")

Progress = Callable[[str, int], None]


class PurgeSimulation(BaseModel):
    events: int


class PurgeResults(BaseModel):
    events_purged: int
    binaries_kept: int
    binaries_purged: int


@dataclass(frozen=True)
class PurgeRequest:
    """What to purge. ``timestamp`` is the submission's ``source.timestamp`` (submission purges)."""

    kind: PurgeKind
    value: str
    timestamp: str | None = None

    def __post_init__(self) -> None:
        if not self.value:
            raise InvalidInput(f"a {self.kind} purge needs a value")
        if self.kind == "submission":
            if not self.timestamp:
                raise BadRequest("a submission purge needs --timestamp, the submission's source.timestamp "
                                 "(e.g. 2024-01-31T12:00:00Z)")
            try:
                object.__setattr__(self, "timestamp", to_utc_text(self.timestamp))
            except InvalidInput as exc:
                raise BadRequest(f"timestamp: {exc.message}") from exc
        if self.kind == "binary":
            object.__setattr__(self, "value", self.value.lower())

    @property
    def key(self) -> str:
        return request_key(self.kind, self.value, self.timestamp)

    def selector(self) -> Selector:
        if self.kind == "binary":
            return Selector(sha256=self.value)
        if self.kind == "submission":
            return Selector(track_source_references=self.value, source_timestamp=self.timestamp)
        if self.kind == "link":
            return Selector(track_link=self.value)
        return Selector(track_author=self.value)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "timestamp": self.timestamp}


class Purger:
    """Simulates and runs purges. ``folder`` is ``settings.purge_path`` (journals live there)."""

    def __init__(self, index: MetadataStore, blobs: BlobStore, intake: EventIntake, folder: Any,
                 access: Access, clock: Clock | None = None) -> None:
        self.index = index
        self.blobs = blobs
        self.intake = intake
        self.folder = folder
        self.access = access
        self.clock = clock or SystemClock()

    def simulate(self, request: PurgeRequest) -> PurgeSimulation:
        """How many documents the request matches now (cascades are not predicted, as in Azul)."""
        return PurgeSimulation(events=self.index.count_selected(request.selector())[0])

    def pending(self) -> list[PurgeRequest]:
        """Purges that started and did not finish (each resumes when run again)."""
        out = []
        for path in Journal.unfinished(self.folder):
            start = next((e for e in read_entries(path) if e.get("type") == "start"), None)
            if start:
                out.append(PurgeRequest(start["kind"], start["value"], start.get("timestamp")))
        return out

    def purge(self, request: PurgeRequest, user: str, progress: Progress | None = None) -> PurgeResults:
        """Purge for real, or finish an earlier run of the same request that was interrupted.

        Raises BadRequest when nothing matches and there is nothing to finish (Azul's 400
        "nothing to purge"), Conflict when the same purge is running elsewhere.
        """
        with Journal.open(self.folder, request.key) as journal:
            if journal.started is None:
                self.index.refresh()  # a purge finds by search: include everything written so far
                if self.index.count_selected(request.selector())[0] == 0:
                    journal.close()
                    journal.path.unlink(missing_ok=True)
                    raise BadRequest(f"nothing to purge: no document matches {request.kind} {request.value!r}")
                journal.append({"type": "start", **request.as_json(), "user": user,
                                "purge_time": utc_iso(self.clock.now())})
            else:
                log.info("resuming the interrupted purge of %s %s", request.kind, request.value)
            run = _Run(self, request, journal, progress or (lambda _step, _n: None))
            results = run.execute()
            journal.finish()
        return results


class _Run:
    """One execution of a journalled purge."""

    def __init__(self, purger: Purger, request: PurgeRequest, journal: Journal, progress: Progress) -> None:
        self.p = purger
        self.request = request
        self.journal = journal
        self.progress = progress
        start = journal.started or {}
        self.purge_time: str = start["purge_time"]
        self.user: str = start.get("user") or "system"
        self.deleted_ids: set[str] = {d["id"] for e in journal.of_type("docs") for d in e["docs"]}
        self.touched: set[str] = {d["sha256"] for e in journal.of_type("docs") for d in e["docs"]}
        self.gone_binaries: set[str] = {s for e in journal.of_type("orphans") for s in e["sha256s"]}

    def execute(self) -> PurgeResults:
        if not self.journal.has("published"):
            self._publish()
            self.journal.append({"type": "published"})
        # events of the purged submission, link or author output still in the log, not yet indexed,
        # are dropped when they are (``tombstones``): their documents have no id to bury yet
        kind = self.request.kind
        if kind in RULE_KINDS:
            self.p.index.bury([purge_rule(kind, self.request.value, self.request.timestamp)], self.purge_time)
        for _ in range(MAX_ROUNDS):
            # what ingestors wrote meanwhile is searchable only after a refresh (deletes refresh
            # only the shards they touch)
            self.p.index.refresh()
            if not self._delete_round(self.request.selector()):
                break
        if self.request.kind == "binary":
            self.touched.add(self.request.value)
        self.p.index.refresh()
        self._cascade()
        kept, purged = self._bytes()
        return PurgeResults(events_purged=len(self.deleted_ids), binaries_kept=kept, binaries_purged=purged)

    # --- steps ---------------------------------------------------------------------------------

    def _publish(self) -> None:
        """The Azul graveyard record (author purges cover events still in flight: now + 1 h)."""
        reason = "deleted via metastore api"
        kind, value = self.request.kind, self.request.value
        if kind == "submission":
            entity = DeleteEntity(reason=reason, submission=DeleteSubmission(
                track_source_references=value, timestamp=self.request.timestamp))
        elif kind == "link":
            entity = DeleteEntity(reason=reason, link=DeleteLink(track_link=value))
        elif kind == "author":
            until = utc_iso(parse_timestamp(self.purge_time) + timedelta(hours=1))
            entity = DeleteEntity(reason=reason, author=DeleteAuthor(track_author=value, timestamp=until))
        else:
            return
        event = DeleteEvent(model_version=CURRENT_MODEL_VERSION, kafka_key="tmp",
                            timestamp=parse_timestamp(self.purge_time),
                            author=Author(name=self.user, category="user"), action=DeleteAction(kind), entity=entity)
        self.p.intake.publish("delete", [event])

    def _delete_docs(self, docs: list[dict[str, Any]]) -> None:
        """Journal, bury, then delete documents (in that order: a crash leaves them recorded)."""
        slim = [{"id": d["id"], "sha256": d["sha256"], "source": d.get("source"), "parent": d.get("parent"),
                 "streams": [[s.get("label"), s.get("sha256")] for s in d.get("datastreams") or ()]}
                for d in docs]
        self.journal.append({"type": "docs", "docs": slim})
        ids = [d["id"] for d in docs]
        self.p.index.bury(ids, self.purge_time)
        self.p.index.delete(Selector(doc_ids=ids))
        self.deleted_ids.update(ids)
        self.touched.update(d["sha256"] for d in docs)
        self.progress("documents", len(ids))

    def _delete_round(self, selector: Selector) -> int:
        total = 0
        while docs := self.p.index.select(selector, limit=PAGE):
            self._delete_docs(docs)
            total += len(docs)
        return total

    def _holders(self, sha256s: Iterable[str]) -> set[str]:
        """Which of these binaries still have a submission (sourced, extracted or mapped document)."""
        wanted = sorted(sha256s)
        held: set[str] = set()
        for i in range(0, len(wanted), 500):
            docs = self.p.index.documents(wanted[i:i + 500], self.p.access, actions=SUBMISSION_ACTIONS)
            held.update(d["sha256"] for d in docs)
        return held

    def _cascade(self) -> None:
        # binaries a previous, interrupted run found orphaned are examined again: the crash may
        # have come before their results or the links below them were deleted
        done: set[str] = set()
        frontier = self.touched | self.gone_binaries
        while frontier:
            orphans = sorted(frontier - self._holders(frontier) - done)
            if not orphans:
                break
            new = [s for s in orphans if s not in self.gone_binaries]
            if new:
                self.journal.append({"type": "orphans", "sha256s": new})
                self.gone_binaries.update(new)
            done.update(orphans)
            for sha256 in orphans:
                self._delete_round(Selector(sha256=sha256))
            children: set[str] = set()
            while links := self.p.index.child_links(orphans):
                for i in range(0, len(links), PAGE):
                    self._delete_docs(links[i:i + PAGE])
                children.update(d["sha256"] for d in links)
            self.p.index.delete_statuses_of(orphans, buried_at=self.purge_time)
            self.progress("binaries", len(orphans))
            frontier = children - done

    def _bytes(self) -> tuple[int, int]:
        """Delete stored references no remaining document needs; returns (kept, purged)."""
        triples: set[tuple[str, str, str]] = set()
        for entry in self.journal.of_type("docs"):
            for doc in entry["docs"]:
                if doc.get("source"):
                    triples.update((doc["source"], label, sha) for label, sha in doc["streams"] if label and sha)
        for sha256 in sorted(self.gone_binaries):
            triples.update((r.source, r.label, r.sha256) for r in self.p.blobs.iter_refs(sha256=sha256))
        cutoff = parse_timestamp(self.purge_time)
        kept = purged = 0
        by_stream: dict[str, set[tuple[str, str]]] = {}
        for source, label, sha in sorted(triples):
            if sha not in by_stream:
                by_stream[sha] = set(self.p.index.stream_sources(sha, self.p.access, limit=None))
            if (source, label) in by_stream[sha]:
                kept += 1
                continue
            try:
                if self.p.blobs.delete(source, label, sha, if_older_than=cutoff):
                    purged += 1
                else:
                    kept += 1  # stored again after the purge began: new data
            except NotFound:
                continue  # never stored, or an earlier, interrupted run deleted it
            except InvalidInput:
                kept += 1  # a source or label the blob store cannot hold never had bytes
            self.progress("streams", 1)
        return kept, purged
