"""Event intake: validate posted events one by one, stamp tracking fields, append to the log.

This is the dispatcher's ``POST /api/v2/event`` behaviour, shared by the HTTP route, the CLI
(``events publish``) and internal publishers (submissions, expedite, lost-task retries). A batch is
never all-or-nothing: each event is judged on its own, valid ones are appended (in one transaction
per topic) and the caller gets a per-event account of what failed and why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from azul_metastore.errors import BadRequest, InvalidInput
from azul_metastore.events import legacy
from azul_metastore.events.port import EventLog, Message
from azul_metastore.events.topics import MODEL_TOPICS, topic_for
from azul_metastore.events.tracking import assign_tracking
from azul_metastore.models.events import EVENT_MODELS, BaseEvent
from azul_metastore.settings import Settings

#: what a status may be over ``max_event_bytes``: it carries the event it answers (the dispatcher's
#: dequeues wrap whole events), and the event logs take the dead-letter margin past the limit
STATUS_MARGIN = 32 * 1024

#: how much of a rejected event is echoed back in ``failures[].event``
ECHO_CHARS = 2000


@dataclass
class Failure:
    index: int
    event: str
    error: str


@dataclass
class IntakeResult:
    """What happened to a posted batch (the wire shape is ``ResponsePostEvent``)."""

    accepted: list[BaseEvent] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: where each accepted event was in the batch (failures found once they are tracked name it)
    positions: list[int] = field(default_factory=list)

    def response(self, include_ok: bool) -> dict[str, Any]:
        return {
            "total_ok": len(self.accepted),
            "total_failures": len(self.failures),
            "failures": [{"event": f.event, "error": f.error} for f in self.failures],
            "ok": [event_json(e) for e in self.accepted] if include_ok else [],
        }


def event_json(event: BaseEvent) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude_none=True)


def event_bytes(event: BaseEvent) -> bytes:
    return orjson.dumps(event_json(event))


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def check_model(model: str) -> type[BaseEvent]:
    cls = EVENT_MODELS.get(model)
    if cls is None:
        raise BadRequest(
            f"unknown event model {model!r}; accepted: {', '.join(sorted(EVENT_MODELS))}", model=model
        )
    return cls


def parse_batch(body: bytes) -> list[Any]:
    """A posted body must be a JSON array of events."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON ({exc}); send a JSON array of events") from exc
    if not isinstance(data, list):
        raise BadRequest(f"the body is a JSON {type(data).__name__}; send a JSON array of events")
    return data


class EventIntake:
    """Validates and publishes events; the only writer of new events into the log."""

    def __init__(self, settings: Settings, event_log: EventLog) -> None:
        self.settings = settings
        self.event_log = event_log

    def validate(self, model: str, raw_events: Sequence[Any]) -> IntakeResult:
        cls = check_model(model)
        result = IntakeResult()
        limit = self.settings.max_event_bytes
        for i, raw in enumerate(raw_events):
            try:
                text = orjson.dumps(raw)
            except TypeError as exc:  # nested past orjson's 255 levels (it reads 1024): no event is
                result.failures.append(Failure(i, "", f"event {i}: cannot be read back as an event: {exc}"))
                continue
            echo = text[:ECHO_CHARS].decode("utf-8", "replace")
            if len(text) > limit:
                result.failures.append(
                    Failure(i, echo, f"event {i}: {len(text)} bytes is over the limit of {limit} bytes per event")
                )
                continue
            if not isinstance(raw, dict):
                result.failures.append(Failure(i, echo, f"event {i}: a {model} event must be a JSON object"))
                continue
            try:
                event = cls.model_validate(legacy.upgrade(model, raw))
            except ValidationError as exc:
                result.failures.append(Failure(i, echo, f"event {i}: {describe_validation(exc)}"))
                continue
            except (ValueError, TypeError, LookupError, AttributeError) as exc:  # a legacy event not upgradable
                result.failures.append(Failure(i, echo, f"event {i}: not a valid {model} event: {exc}"))
                continue
            result.accepted.append(event)
            result.positions.append(i)
        return result

    def post(self, model: str, raw_events: Sequence[Any]) -> IntakeResult:
        """Validate ``raw_events`` and publish the valid ones.

        Tracking fields add to an event (its path's links and authors, once each): one under the
        limit as posted may be over it once tracked. That event fails alone, as one over the limit
        as posted does; the rest of the batch is published (it all was refused, 422)."""
        result = self.validate(model, raw_events)
        limit = self._limit(model)
        fitting: list[BaseEvent] = []
        positions: list[int] = []
        by_topic: dict[str, list[Message]] = defaultdict(list)
        for index, event in zip(result.positions, result.accepted, strict=True):
            assign_tracking(event)
            data = event_bytes(event)
            if len(data) > limit:
                result.failures.append(Failure(index, data[:ECHO_CHARS].decode("utf-8", "replace"),
                                               f"event {index}: {len(data)} bytes once tracked is over the limit"
                                               f" of {limit} bytes per event"))
                continue
            fitting.append(event)
            positions.append(index)
            by_topic[topic_for(model, event)].append(Message(event.kafka_key, data))
        for topic, messages in by_topic.items():
            self.event_log.append(topic, messages)
        result.accepted, result.positions = fitting, positions
        result.failures.sort(key=lambda f: f.index)
        return result

    def _limit(self, model: str) -> int:
        if model not in MODEL_TOPICS:
            check_model(model)
        return self.settings.max_event_bytes + (STATUS_MARGIN if model == "status" else 0)

    def publish(self, model: str, events: Sequence[BaseEvent]) -> list[BaseEvent]:
        """Stamp tracking fields and append validated events, grouped by topic; returns them.

        Raises InvalidInput before appending anything when an event is over ``max_event_bytes``
        (a status, which may carry a whole event as its input, gets the dead-letter margin): the
        metastore's own events (submissions, expedite, dequeues) are held to the limit posted
        events are, on every event log (Kafka refused them, SQLite took them)."""
        limit = self._limit(model)
        by_topic: dict[str, list[Message]] = defaultdict(list)
        for event in events:
            assign_tracking(event)
            by_topic[topic_for(model, event)].append(Message(event.kafka_key, self._sized(event, model, limit)))
        for topic, messages in by_topic.items():
            self.event_log.append(topic, messages)
        return list(events)

    def publish_to(self, topic: str, events: Sequence[BaseEvent]) -> None:
        """Append already-tracked events to a specific topic (retry lanes, re-enqueueing)."""
        limit = self.settings.max_event_bytes
        self.event_log.append(topic, [Message(e.kafka_key, self._sized(e, topic, limit)) for e in events])

    @staticmethod
    def _sized(event: BaseEvent, what: str, limit: int) -> bytes:
        data = event_bytes(event)
        if len(data) > limit:
            raise InvalidInput(f"the {what} event would be {len(data)} bytes, over the limit of {limit}"
                               " bytes per event (long file names, references or settings make it so)",
                               limit=limit, size=len(data))
        return data
