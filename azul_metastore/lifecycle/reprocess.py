"""Re-enqueueing: publish the events of every binary a search finds again, so plugins run on them
once more - all plugins (the ``binary`` topic) or one (its retry lane, which only it reads).

Events are rebuilt from the index (``index/decoder.py``: sourced and extracted documents; lineage
beyond the parent is not kept there) and published at ``reprocess_events_per_second`` at most, so a
large re-run does not starve live work. A job's progress lives in the lifecycle state file, so any
API process can answer ``GET /v0/binaries/reprocess/{job}``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from pydantic import ValidationError

from azul_metastore.errors import NotFound
from azul_metastore.events import topics
from azul_metastore.events.intake import EventIntake
from azul_metastore.events.tracking import assign_tracking
from azul_metastore.index.decoder import decode_binary
from azul_metastore.index.port import MetadataStore
from azul_metastore.lifecycle.task_state import TaskState
from azul_metastore.models.events import BinaryEvent
from azul_metastore.query import Node, parse
from azul_metastore.security import Access
from azul_metastore.settings import Settings

log = logging.getLogger(__name__)

#: binaries read from the index per page
PAGE = 200


def rebuilt_events(index: MetadataStore, sha256s: list[str], access: Access) -> list[BinaryEvent]:
    """Publishable events of these binaries, one per submission document the caller can see."""
    events = []
    for doc in index.documents(sha256s, access, actions=("sourced", "extracted")):
        try:
            event = BinaryEvent.model_validate(decode_binary(doc))
        except ValidationError as exc:
            log.warning("reprocess: document of %s cannot be rebuilt as an event: %s", doc.get("sha256"), exc)
            continue
        event.kafka_key = "tmp"
        events.append(event)
    return events


class Reprocessor:
    def __init__(self, settings: Settings, index: MetadataStore, intake: EventIntake, state: TaskState) -> None:
        self.settings = settings
        self.index = index
        self.intake = intake
        self.state = state

    @staticmethod
    def query(term: str) -> Node | None:
        """The parsed term (InvalidQuery, a 400, when it does not parse)."""
        return parse(term or "")

    def count(self, term: str, access: Access) -> int:
        """How many binaries the term finds (the dry run)."""
        return self.index.count(self.query(term), access)

    def start(self, term: str, plugin: str | None, access: Access) -> str:
        """Check the term, record a job and run it in a background thread; returns the job id."""
        query = self.query(term)
        job_id = uuid.uuid4().hex
        self.state.create_job(job_id, {"term": term, "plugin": plugin, "user": access.username}, time.time())
        thread = threading.Thread(target=self.run_job, args=(job_id, query, plugin, access),
                                  name=f"reprocess-{job_id[:8]}", daemon=True)
        thread.start()
        return job_id

    def run_job(self, job_id: str, query: Node | None, plugin: str | None, access: Access) -> None:
        """Publish every found binary's events, throttled; progress is written as it goes."""
        try:
            total = self.index.count(query, access)
            self.state.update_job(job_id, time.time(), total=total)
            published, after = 0, None
            rate = self.settings.reprocess_events_per_second
            began = time.monotonic()
            while True:
                page = self.index.list_binaries(query, access, after, PAGE)
                if not page.items:
                    break
                events = rebuilt_events(self.index, list(page.items), access)
                for i in range(0, len(events), max(1, int(rate))):
                    chunk = events[i:i + max(1, int(rate))]
                    self._publish(chunk, plugin)
                    published += len(chunk)
                    ahead = published / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
                    self.state.update_job(job_id, time.time(), published=published)
                after = page.after
                if after is None:
                    break
            self.state.update_job(job_id, time.time(), state="done", published=published)
        except Exception as exc:
            log.exception("reprocess job %s failed", job_id)
            self.state.update_job(job_id, time.time(), state="failed", error=str(exc))

    def _publish(self, events: list[BinaryEvent], plugin: str | None) -> None:
        if plugin is None:
            self.intake.publish("binary", events)
            return
        for event in events:
            event.flags.bypass_cache = True
            assign_tracking(event)
        self.intake.publish_to(topics.retry_lane(plugin), events)

    def job(self, job_id: str) -> dict[str, Any]:
        found = self.state.job(job_id)
        if found is None:
            raise NotFound(f"no reprocess job {job_id!r}")
        return found
