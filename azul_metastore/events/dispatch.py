"""Handing events to plugins and other HTTP consumers (the dispatcher's ``GET /api/v2/event``).

A consumer is named by ``name`` and ``version``; all instances of one name+version form one
consumer group and share the work. Over HTTP there is no separate commit call, so a batch counts
as delivered once it is handed out. What protects work against a consumer that dies mid-task is the
``active`` mode: every event handed out is recorded by a ``dequeued`` status event whose id
(``{kafka_key}.{name}.{version}.{unix seconds}``) the plugin echoes in its results; lost-task
processing finds dequeues without a completion and retries them (see ``lifecycle/lost_tasks.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from azul_metastore.events import topics
from azul_metastore.events.intake import EventIntake, check_model
from azul_metastore.events.port import EventLog
from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    Author,
    BinaryEvent,
    StatusEntity,
    StatusEnum,
    StatusEvent,
    now_utc,
)


def _split(values: Sequence[str]) -> list[str]:
    """Accept both repeated parameters and comma-separated lists."""
    out: list[str] = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


#: the filter count of records that are not events (not JSON, not an object, fields of the wrong
#: kind): never delivered, so that one cannot hold up the events behind it
UNREADABLE = "unreadable"


@dataclass
class ConsumerFilters:
    """The dispatcher's event filters (``d-*`` deny, ``r-*`` require)."""

    deny_actions: list[str] = field(default_factory=list)
    deny_self: bool = False
    require_actions: list[str] = field(default_factory=list)
    require_content: bool = False
    require_under_content_size: int = 0
    require_over_content_size: int = 0
    require_streams: list[str] = field(default_factory=list)
    require_sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deny_actions = _split(self.deny_actions)
        self.require_actions = _split(self.require_actions)
        self.require_streams = _split(self.require_streams)
        self.require_sources = _split(self.require_sources)

    def reason_to_skip(self, event: dict[str, Any], consumer_name: str) -> str | None:
        """Why a binary event is filtered out for this consumer, or None to deliver it."""
        action = event.get("action")
        if self.deny_actions and action in self.deny_actions:
            return "d-action"
        if self.require_actions and action not in self.require_actions:
            return "r-action"
        if self.deny_self and (event.get("author") or {}).get("name") == consumer_name:
            return "d-self"
        source = event.get("source") or {}
        if self.require_sources and source.get("name") not in self.require_sources:
            return "r-source"
        streams = (event.get("entity") or {}).get("datastreams") or []
        content = next((s for s in streams if s.get("label") == "content"), None)
        if self.require_content and content is None:
            return "r-content"
        size = (content or {}).get("size") or 0
        if self.require_under_content_size and (content is None or size >= self.require_under_content_size):
            return "r-under-content-size"
        if self.require_over_content_size and (content is None or size <= self.require_over_content_size):
            return "r-over-content-size"
        if self.require_streams:
            labels = {s.get("label") for s in streams}
            formats = {s.get("file_format") for s in streams if s.get("label") == "content"}
            for want in self.require_streams:
                if "/" in want:
                    if not any(f and (f == want or f.startswith(want.rstrip("*"))) for f in formats):
                        return "r-streams"
                elif want not in labels:
                    return "r-streams"
        return None


@dataclass
class Delivery:
    info: dict[str, Any]
    events: list[dict[str, Any]]


def dequeued_id(kafka_key: str, name: str, version: str, unix: int) -> str:
    return f"{kafka_key}.{name}.{version}.{unix}"


class EventDispatch:
    def __init__(self, event_log: EventLog, intake: EventIntake) -> None:
        self.event_log = event_log
        self.intake = intake

    @staticmethod
    def group(name: str, version: str) -> str:
        return f"{name}-{version}"

    @staticmethod
    def binary_topics(name: str, expedite: bool, live: bool, historic: bool, active: bool) -> list[str]:
        if not (expedite or live or historic):
            expedite = live = True
        lanes = []
        if expedite:
            lanes.append(topics.BINARY_EXPEDITE)
        if active:
            lanes.append(topics.retry_lane(name))
        if live or historic:
            lanes.append(topics.BINARY)
        return lanes

    def get_events(
        self,
        model: str,
        name: str,
        version: str,
        count: int,
        deadline: float,
        active: bool,
        filters: ConsumerFilters,
        lanes: Sequence[str] | None = None,
    ) -> Delivery:
        check_model(model)
        topic_list = list(lanes) if model == "binary" and lanes else [topics.MODEL_TOPICS[model]]
        # No consumer name: each request is its own consumer. Instances of one plugin share the
        # group, and a named consumer takes back the uncommitted batch of an earlier request under
        # that name, so two instances asking at once were handed the same events. A request commits
        # what it fetched before answering; if the server dies in between, the lease expires and
        # the events go to a later request.
        batch = self.event_log.fetch(self.group(name, version), topic_list, count, deadline)
        delivered: list[dict[str, Any]] = []
        filtered: dict[str, int] = {}
        for record in batch.records:
            try:
                event = orjson.loads(record.value)
            except orjson.JSONDecodeError:
                event = None
            if not isinstance(event, dict):
                # not an event (the ingestors dead-letter it): skipped, so the ones behind it still flow
                filtered[UNREADABLE] = filtered.get(UNREADABLE, 0) + 1
                continue
            try:
                reason = filters.reason_to_skip(event, name) if model == "binary" else None
            except (AttributeError, TypeError):  # e.g. an author or source that is not an object
                reason = UNREADABLE
            if reason:
                filtered[reason] = filtered.get(reason, 0) + 1
                continue
            delivered.append(event)
        if active and model == "binary" and delivered:
            self._record_dequeues(delivered, name, version)
        self.event_log.commit(batch)
        info = {
            "filtered": sum(filtered.values()),
            "fetched": len(batch.records),
            "ready": True,
            "paused": False,
            "consumers_not_ready": "",
            "filters": filtered,
        }
        return Delivery(info, delivered)

    def _record_dequeues(self, events: list[dict[str, Any]], name: str, version: str) -> None:
        now = now_utc()
        unix = int(now.timestamp())
        author = Author(name=name, version=version, category="plugin")
        statuses = []
        for event in events:
            event["dequeued"] = dequeued_id(event["kafka_key"], name, version, unix)
            statuses.append(
                StatusEvent(
                    model_version=CURRENT_MODEL_VERSION,
                    kafka_key="tmp",
                    timestamp=now,
                    author=author,
                    entity=StatusEntity(input=BinaryEvent.model_validate(event), status=StatusEnum.dequeued),
                )
            )
        self.intake.publish("status", statuses)


def multipart_body(info: dict[str, Any], events: list[dict[str, Any]], boundary: str) -> bytes:
    """The dispatcher's answer: a ``multipart/form-data`` body with ``info`` and ``events`` parts."""
    parts = [("info", orjson.dumps(info)), ("events", orjson.dumps({"events": events}))]
    out = bytearray()
    for name, payload in parts:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        out += b"Content-Type: application/json\r\n\r\n"
        out += payload + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)
