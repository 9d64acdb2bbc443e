"""Azul network events, model version 6: what plugins, clients and the dispatcher exchange.

Our own pydantic models of the wire format (inventory §3). They are strict the way Azul's are:
unknown fields are rejected and timestamps must carry a timezone. Two leniencies are deliberate:

* fractional seconds beyond microseconds (Go's RFC 3339 nano timestamps, as the real dispatcher
  writes them) are truncated to microseconds instead of rejected;
* nothing else: older event shapes are upgraded *before* validation by ``events/legacy.py``.

The per-action datastream and path rules of §3.2 are checked by :meth:`BinaryEvent.check_action`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

CURRENT_MODEL_VERSION = 6

_NANOS = re.compile(r"^(.*T\d\d:\d\d:\d\d\.\d{6})\d+(.*)$")


def _trim_nanoseconds(value: Any) -> Any:
    if isinstance(value, str):
        m = _NANOS.match(value)
        if m:
            return m.group(1) + m.group(2)
    return value


def _within_utc_range(value: datetime) -> datetime:
    """0001-01-01T00:00:00+01:00 is valid ISO 8601 but falls before year 1 in UTC, where every
    timestamp is stored: refused here, with the event, rather than failing where it is indexed."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range: in UTC it must fall within years 1 to 9999") from None
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_trim_nanoseconds), AfterValidator(_within_utc_range)]


def utc_iso(ts: datetime) -> str:
    """The canonical text of a timestamp: UTC, ``Z`` suffix, microseconds only when present."""
    ts = ts.astimezone(UTC)
    text = ts.isoformat(timespec="microseconds" if ts.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class Strict(BaseModel):
    """Base of every wire model: unknown fields are an error, as in azul-bedrock."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BinaryAction(StrEnum):
    sourced = "sourced"
    extracted = "extracted"
    augmented = "augmented"
    mapped = "mapped"
    enriched = "enriched"


class DataLabel(StrEnum):
    assemblyline = "assemblyline"
    cape_report = "cape_report"
    content = "content"
    cs_call_tree = "cs_call_tree"
    decompiled_cs = "decompiled_cs"
    decompiled_c = "decompiled_c"
    decompiled_java = "decompiled_java"
    deob_js = "deob_js"
    password_dictionary = "password_dictionary"
    pcap = "pcap"
    report = "report"
    safe_png = "safe_png"
    screenshot = "screenshot"
    test = "test"
    text = "text"
    yara_rule_hit = "yara_rule_hit"


class FeatureType(StrEnum):
    integer = "integer"
    float = "float"
    string = "string"
    binary = "binary"
    datetime = "datetime"
    filepath = "filepath"
    uri = "uri"


class StatusEnum(StrEnum):
    completed = "completed"
    completed_empty = "completed-empty"
    completed_with_errors = "completed-with-errors"
    opt_out = "opt-out"
    heartbeat = "heartbeat"
    dequeued = "dequeued"
    download_requested = "download-requested"
    error_exception = "error-exception"
    error_network = "error-network"
    error_runner = "error-runner"
    error_input = "error-input"
    error_output = "error-output"
    error_timeout = "error-timeout"
    error_out_of_memory = "error-out-of-memory"


SUCCESS_STATUSES = frozenset({StatusEnum.completed, StatusEnum.completed_empty, StatusEnum.completed_with_errors})
IN_PROGRESS_STATUSES = frozenset({StatusEnum.heartbeat, StatusEnum.dequeued})
#: statuses after which a plugin will not touch the input again (success, opt-out or an error)
FINAL_STATUSES = frozenset(s for s in StatusEnum if s not in IN_PROGRESS_STATUSES and s != "download-requested")


def is_error(status: str) -> bool:
    return status.startswith("error-")


class DownloadAction(StrEnum):
    requested = "requested"
    success = "success"
    failed = "failed"
    failed_not_found = "failed-not-found"
    skipped_already_present = "skipped-already-present"


class DeleteAction(StrEnum):
    submission = "submission"
    link = "link"
    author = "author"


# --- shared parts ----------------------------------------------------------------------------------


class Author(Strict):
    name: str
    category: str | None = None
    version: str | None = None
    security: str | None = None


class PathNode(Strict):
    sha256: str
    action: BinaryAction
    timestamp: Timestamp
    author: Author
    relationship: dict[str, str] = {}
    file_format: str | None = None
    filename: str | None = None
    language: str | None = None
    size: Annotated[int, Field(ge=0)] | None = None


class Source(Strict):
    name: str
    timestamp: Timestamp
    path: list[PathNode]
    security: str | None = None
    references: dict[str, str] = {}
    settings: dict[str, str] = {}


class FeatureValue(Strict):
    name: str
    type: FeatureType
    value: str
    label: str | None = None
    offset: Annotated[int, Field(ge=0)] | None = None
    size: Annotated[int, Field(ge=0)] | None = None


class FileInfo(Strict):
    sha256: str | None = None
    sha512: str | None = None
    sha1: str | None = None
    md5: str | None = None
    ssdeep: str | None = None
    tlsh: str | None = None
    size: Annotated[int, Field(ge=0)] | None = None
    file_format: str | None = None
    file_extension: str | None = None
    mime: str | None = None
    magic: str | None = None


class Datastream(FileInfo):
    label: DataLabel
    identify_version: int = 0
    language: str | None = None


class Flags(Strict):
    bypass_cache: bool = False
    expedite: bool = False
    retry: bool = False


class BaseEvent(Strict):
    model_version: Annotated[int, Field(ge=0)]
    kafka_key: str
    timestamp: Timestamp
    author: Author


# --- binary events ---------------------------------------------------------------------------------


class BinaryEntity(FileInfo):
    features: list[FeatureValue] = []
    datastreams: list[Datastream] = []
    info: dict[str, Any] = {}


class BinaryEvent(BaseEvent):
    model: ClassVar[str] = "binary"
    action: BinaryAction
    entity: BinaryEntity
    source: Source
    dequeued: str | None = None
    retries: Annotated[int, Field(ge=0)] | None = None
    flags: Flags = Flags()
    track_source_references: str | None = None
    track_authors: list[str] | None = None
    track_links: list[str] | None = None

    @model_validator(mode="after")
    def _action_rules(self) -> BinaryEvent:
        self.check_action()
        return self

    def check_action(self) -> None:
        """Enforce §3.2: which datastreams and path shapes each action allows."""
        labels = {d.label for d in self.entity.datastreams}
        has_content = DataLabel.content in labels
        path = self.source.path
        action = self.action
        if not path:
            raise ValueError("source.path must have at least one node (the binary itself)")
        if not self.author.name:
            raise ValueError("author.name must not be empty")
        if action in (BinaryAction.sourced, BinaryAction.extracted) and not has_content:
            raise ValueError(f"a {action} event must carry a datastream labelled 'content'")
        if action == BinaryAction.augmented and (not has_content or len(labels) < 2):
            raise ValueError("an augmented event needs a 'content' datastream and at least one other label")
        if action == BinaryAction.mapped and has_content:
            raise ValueError("a mapped event may not carry a 'content' datastream")
        if action == BinaryAction.enriched and self.entity.datastreams:
            raise ValueError("an enriched event may not carry datastreams; use 'augmented' for new streams")
        if action == BinaryAction.sourced and len(path) != 1:
            raise ValueError("a sourced event is a root: source.path must have exactly one node")
        if action == BinaryAction.extracted and len(path) < 2:
            raise ValueError("an extracted event needs the parent in source.path (at least two nodes)")
        for i, node in enumerate(path[:-1]):
            if node.action == BinaryAction.enriched:
                raise ValueError(f"source.path[{i}]: an 'enriched' node can only be the last node of a path")
        if action == BinaryAction.augmented and len(path) >= 2 and path[-2].action not in (
            BinaryAction.sourced,
            BinaryAction.extracted,
            BinaryAction.mapped,
        ):
            raise ValueError("an augmented node must follow a sourced, extracted or mapped node")
        for i, d in enumerate(self.entity.datastreams):
            if not d.sha256:
                raise ValueError(f"entity.datastreams[{i}].sha256 is required")


# --- plugin, status, insert, download and delete events -------------------------------------------


class PluginFeature(Strict):
    name: str
    desc: str
    type: FeatureType


class PluginEntity(Author):
    description: str | None = None
    contact: str | None = None
    features: list[PluginFeature] = []
    config: dict[str, str] = {}


class PluginEvent(BaseEvent):
    model: ClassVar[str] = "plugin"
    entity: PluginEntity


class StatusInput(BinaryEvent):
    """The event a status answers, as plugins send it back: azul-runner strips its datastreams (it
    keeps the sha256 and size), so the per-action datastream rules of §3.2 cannot apply to it."""

    def check_action(self) -> None:
        if not self.source.path:
            raise ValueError("source.path must have at least one node (the binary itself)")


class StatusEntity(Strict):
    #: the full event when it validates as one (dispatch's ``dequeued`` statuses), else as plugins send it
    input: Annotated[BinaryEvent | StatusInput, Field(union_mode="left_to_right")]
    status: StatusEnum
    runtime: float | None = None
    error: str | None = None
    message: str | None = None
    results: list[BinaryEvent] = []


class StatusEvent(BaseEvent):
    model: ClassVar[str] = "status"
    entity: StatusEntity


class InsertEntity(Strict):
    original_source: str
    parent_sha256: str
    child: BinaryEntity
    child_history: PathNode


class InsertEvent(BaseEvent):
    model: ClassVar[str] = "insert"
    entity: InsertEntity
    track_link: str | None = None
    track_author: str | None = None


class DownloadEntity(Strict):
    hash: str
    direct_url: str | None = None
    direct_expiry: Timestamp | None = None
    pcap: bool = False
    category: str | None = None
    category_quota: int | None = None
    metadata: dict[str, Any] = {}


class DownloadEvent(BaseEvent):
    model: ClassVar[str] = "download"
    action: DownloadAction
    source: Source
    entity: DownloadEntity


class DeleteSubmission(Strict):
    track_source_references: str
    #: Azul keeps these two as free text (``"2024"`` is accepted by its client), not datetimes
    timestamp: str | None = None


class DeleteLink(Strict):
    track_link: str


class DeleteAuthor(Strict):
    track_author: str
    timestamp: str


class DeleteIds(Strict):
    ids: list[str] = []


class DeleteEntity(Strict):
    reason: str
    submission: DeleteSubmission | None = None
    link: DeleteLink | None = None
    author: DeleteAuthor | None = None
    ids: DeleteIds | None = None


class DeleteEvent(BaseEvent):
    model: ClassVar[str] = "delete"
    action: DeleteAction
    entity: DeleteEntity

    @model_validator(mode="after")
    def _selector_matches_action(self) -> DeleteEvent:
        if getattr(self.entity, self.action.value) is None:
            raise ValueError(f"a delete event with action '{self.action}' needs entity.{self.action}")
        return self


Event = BinaryEvent | PluginEvent | StatusEvent | InsertEvent | DownloadEvent | DeleteEvent

ModelName = Literal["binary", "plugin", "status", "insert", "download", "delete"]

EVENT_MODELS: dict[str, type[BaseEvent]] = {
    "binary": BinaryEvent,
    "plugin": PluginEvent,
    "status": StatusEvent,
    "insert": InsertEvent,
    "download": DownloadEvent,
    "delete": DeleteEvent,
}


def now_utc() -> datetime:
    return datetime.now(UTC)
