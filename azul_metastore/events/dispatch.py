"""Handing events to plugins and other HTTP consumers (the dispatcher's ``GET /api/v2/event``).

A consumer is named by ``name`` and ``version``; all instances of one name+version form one
consumer group and share the work. Over HTTP there is no separate commit call, so a batch counts
as delivered once it is handed out. What protects work against a consumer that dies mid-task is the
``active`` mode: every event handed out is recorded by a ``dequeued`` status event whose id
(``{kafka_key}.{name}.{version}.{unix seconds}``) the plugin echoes in its results; lost-task
processing finds dequeues without a completion and retries them (see ``lifecycle/lost_tasks.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from azul_metastore.errors import InvalidInput
from azul_metastore.events import topics
from azul_metastore.events.consumers import ConsumerRegistry
from azul_metastore.events.intake import EventIntake, check_model
from azul_metastore.events.port import EventLog
from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    EVENT_MODELS,
    Author,
    BaseEvent,
    BinaryAction,
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


_ACTIONS = frozenset(a.value for a in BinaryAction)
#: the actions ``r-content`` asks for: events that bring a binary's content (Azul's dispatcher)
CONTENT_ACTIONS = ("sourced", "extracted")


def _actions(values: Sequence[str], parameter: str) -> list[str]:
    """Action names of a filter; an unknown one is refused (a typo would filter out, and hand
    out as done, every event)."""
    actions = _split(values)
    unknown = sorted(set(actions) - _ACTIONS)
    if unknown:
        raise InvalidInput(f"{parameter}: unknown action {', '.join(map(repr, unknown))}; accepted: "
                           f"{', '.join(sorted(_ACTIONS))}", parameter=parameter)
    return actions


def _streams(values: Sequence[str]) -> dict[str, frozenset[str]]:
    """``r-streams`` values, each ``LABEL[,prefix...]``: a stream the event must carry (``*``: any
    stream), and when prefixes follow, file formats it must start with (any one of them)."""
    out: dict[str, frozenset[str]] = {}
    for value in values:
        items = [x.strip() for x in value.split(",") if x.strip()]
        if items:
            out[items[0]] = out.get(items[0], frozenset()) | frozenset(items[1:])
    return out


#: the filter count of records that are not events (not JSON, not an object, fields of the wrong
#: kind): never delivered, so that one cannot hold up the events behind it
UNREADABLE = "unreadable"


@dataclass
class ConsumerFilters:
    """The dispatcher's event filters (``d-*`` deny, ``r-*`` require), with Azul's semantics.

    ``r-content`` asks for events that bring content (actions ``sourced`` and ``extracted``, unless
    ``r-action`` names others) carrying a ``content`` stream; the content size bounds are
    inclusive and also require content. Source, action and self filters apply to a status event's
    input event too; stream and size filters to binary events only. Raises InvalidInput for an
    unknown action or a minimum size over the maximum.
    """

    deny_actions: list[str] = field(default_factory=list)
    deny_self: bool = False
    require_actions: list[str] = field(default_factory=list)
    require_content: bool = False
    require_under_content_size: int = 0
    require_over_content_size: int = 0
    require_streams: list[str] = field(default_factory=list)
    require_sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        #: the parameters as given, which :meth:`from_parameters` reads back (the consumer registry)
        self.parameters: dict[str, Any] = {name: value for name, value in (
            ("d-action", list(self.deny_actions)), ("d-self", self.deny_self), ("r-action", list(self.require_actions)),
            ("r-content", self.require_content), ("r-under-content-size", self.require_under_content_size),
            ("r-over-content-size", self.require_over_content_size), ("r-streams", list(self.require_streams)),
            ("r-source", list(self.require_sources))) if value}
        self.deny_actions = _actions(self.deny_actions, "d-action")
        self.require_actions = _actions(self.require_actions, "r-action")
        if self.require_content and not self.require_actions:
            self.require_actions = list(CONTENT_ACTIONS)
        under, over = self.require_under_content_size, self.require_over_content_size
        if under > 0 and over > under:
            raise InvalidInput(f"r-over-content-size ({over}) is larger than r-under-content-size ({under}):"
                               " no content could be both", parameter="r-over-content-size")
        self.streams = _streams(self.require_streams)
        self.require_sources = _split(self.require_sources)

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> ConsumerFilters:
        """The filters of recorded :attr:`parameters`."""
        return cls(deny_actions=list(parameters.get("d-action") or ()), deny_self=bool(parameters.get("d-self")),
                   require_actions=list(parameters.get("r-action") or ()),
                   require_content=bool(parameters.get("r-content")),
                   require_under_content_size=int(parameters.get("r-under-content-size") or 0),
                   require_over_content_size=int(parameters.get("r-over-content-size") or 0),
                   require_streams=list(parameters.get("r-streams") or ()),
                   require_sources=list(parameters.get("r-source") or ()))

    def reason_to_skip(self, model: str, event: BaseEvent, consumer_name: str) -> str | None:
        """Why an event is filtered out for this consumer (the parameter that drops it, as counted
        in ``info.filters``), or None to deliver it. :data:`TRIGGERS` names it as Azul does."""
        if isinstance(event, StatusEvent):
            return self._skip_by_origin(event.entity.input, consumer_name)
        if not isinstance(event, BinaryEvent):
            return None
        return self._skip_by_origin(event, consumer_name) or self._skip_by_streams(event)

    def trigger(self, model: str, event: BaseEvent, consumer_name: str) -> str | None:
        """Azul's ``filter_out_trigger`` of an event this consumer's filters drop, or None."""
        reason = self.reason_to_skip(model, event, consumer_name)
        return None if reason is None else f"FilterConsumerRules-{TRIGGERS[reason]}"

    def _skip_by_origin(self, event: BinaryEvent, consumer_name: str) -> str | None:
        if self.require_sources and event.source.name not in self.require_sources:
            return "r-source"
        if self.require_actions and event.action.value not in self.require_actions:
            return "r-action"
        if self.deny_actions and event.action.value in self.deny_actions:
            return "d-action"
        if self.deny_self and event.author.name == consumer_name:
            return "d-self"
        return None

    def _skip_by_streams(self, event: BinaryEvent) -> str | None:
        # in the order of Azul's FilterConsumerRules, so that simulations name the same trigger
        streams = event.entity.datastreams or []
        content = next((s for s in streams if s.label == "content"), None)
        under, over = self.require_under_content_size, self.require_over_content_size
        size = (content.size or 0) if content is not None else 0
        if content is not None and under > 0 and size > under:
            return "r-under-content-size"
        if content is not None and over > 0 and size < over:
            return "r-over-content-size"
        anywhere = self.streams.get("*")
        if anywhere and not any((s.file_format or "").startswith(tuple(anywhere)) for s in streams):
            return STREAMS_ANY_FORMAT
        if content is None and (self.require_content or under > 0 or over > 0):
            return "r-content"
        for label, prefixes in self.streams.items():
            if label == "*":
                continue
            stream = next((s for s in streams if s.label == label), None)
            if stream is None:
                return "r-streams"
            if prefixes and not (stream.file_format or "").startswith(tuple(prefixes)):
                return STREAMS_FORMAT
        return None


#: reasons of :meth:`ConsumerFilters.reason_to_skip` beyond the parameter names, counted under
#: ``r-streams`` in ``info.filters``: a stream's file format, or no stream of the formats ``*`` asks
STREAMS_FORMAT, STREAMS_ANY_FORMAT = "r-streams:format", "r-streams:*"
#: each reason as Azul's dispatcher names it (``FilterConsumerRules-<name>`` in simulations)
TRIGGERS = {
    "r-source": "reject_source", "r-action": "reject_event_type", "d-action": "reject_event_type",
    "d-self": "reject_self", "r-under-content-size": "reject_content_too_large",
    "r-over-content-size": "reject_content_too_small", "r-content": "reject_no_content",
    "r-streams": "reject_stream", STREAMS_FORMAT: "reject_file_format", STREAMS_ANY_FORMAT: "reject_wildcard_stream",
}


@dataclass
class Delivery:
    info: dict[str, Any]
    events: list[dict[str, Any]]


#: prefixes of the consumer groups of the metastore's own ingestors and lifecycle jobs
RESERVED_GROUPS = (topics.INGESTOR_GROUPS, topics.LIFECYCLE_GROUPS)


def dequeued_id(kafka_key: str, name: str, version: str, unix: int) -> str:
    return f"{kafka_key}.{name}.{version}.{unix}"


@dataclass(frozen=True)
class Simulated:
    """One consumer's verdict on an event (Azul's ``EventSimulateConsumer``)."""

    name: str
    version: str
    filter_out: bool
    filter_out_trigger: str


class EventDispatch:
    def __init__(self, event_log: EventLog, intake: EventIntake, registry: ConsumerRegistry | None = None) -> None:
        self.event_log = event_log
        self.intake = intake
        self.registry = registry or ConsumerRegistry(event_log)

    def simulate(self, event: BinaryEvent) -> list[Simulated]:
        """Which consumers of binary events would take ``event`` and which filter drops it for the
        others: the filters of each consumer's latest fetch (:class:`ConsumerRegistry`)."""
        out = []
        for consumer in self.registry.consumers():
            try:
                filters = ConsumerFilters.from_parameters(consumer.filters)
            except InvalidInput:  # recorded before a check refused such filters: it fetches nothing
                continue
            trigger = filters.trigger("binary", event, consumer.name)
            out.append(Simulated(consumer.name, consumer.version, trigger is not None, trigger or ""))
        return out

    @staticmethod
    def group(name: str, version: str) -> str:
        """The consumer group of a plugin: Azul's ``name-version``. The metastore's own groups
        (``ingestor-...``, ``lifecycle-...``) are not a plugin's to take: their events would be
        handed out and never indexed."""
        if not name:
            raise InvalidInput("name: a consumer needs a name", parameter="name")
        group = f"{name}-{version}"
        if group.startswith(RESERVED_GROUPS):
            raise InvalidInput(f"consumer {name!r} version {version!r} makes the group {group!r}, whose prefix"
                               f" ({', '.join(RESERVED_GROUPS)}) the metastore's own consumers use", parameter="name")
        return group

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
        group = self.group(name, version)
        if model == "binary":
            self.registry.record(name, version, filters.parameters)
        topic_list = list(lanes) if model == "binary" and lanes else [topics.MODEL_TOPICS[model]]
        # No consumer name: each request is its own consumer. Instances of one plugin share the
        # group, and a named consumer takes back the uncommitted batch of an earlier request under
        # that name, so two instances asking at once were handed the same events. A request commits
        # what it fetched before answering; if the server dies in between, the lease expires and
        # the events go to a later request.
        batch = self.event_log.fetch(group, topic_list, count, deadline)
        delivered: list[dict[str, Any]] = []
        tasks: list[BinaryEvent] = []
        filtered: dict[str, int] = {}
        cls = EVENT_MODELS[model]
        for record in batch.records:
            try:
                event = cls.model_validate_json(record.value)
            except ValueError:
                # not an event (the ingestors dead-letter it): skipped in both modes, so the ones
                # behind it still flow and no plugin is handed something it cannot read
                filtered[UNREADABLE] = filtered.get(UNREADABLE, 0) + 1
                continue
            reason = filters.reason_to_skip(model, event, name)
            if reason:
                counted = reason.split(":", 1)[0]
                filtered[counted] = filtered.get(counted, 0) + 1
                continue
            delivered.append(orjson.loads(record.value))
            if isinstance(event, BinaryEvent):
                tasks.append(event)
        if active and model == "binary" and delivered:
            self._record_dequeues(delivered, tasks, name, version)
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

    def _record_dequeues(self, events: list[dict[str, Any]], tasks: list[BinaryEvent], name: str,
                         version: str) -> None:
        now = now_utc()
        unix = int(now.timestamp())
        author = Author(name=name, version=version, category="plugin")
        statuses = []
        for event, task in zip(events, tasks, strict=True):
            event["dequeued"] = dequeued_id(task.kafka_key, name, version, unix)
            task = task.model_copy(update={"dequeued": event["dequeued"]})
            statuses.append(
                StatusEvent(
                    model_version=CURRENT_MODEL_VERSION,
                    kafka_key="tmp",
                    timestamp=now,
                    author=author,
                    entity=StatusEntity(input=task, status=StatusEnum.dequeued),
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
