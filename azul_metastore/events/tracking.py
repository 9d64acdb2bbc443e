"""Tracking fields and event ids, computed on intake the way the Azul dispatcher does (§3.2, §3.5).

Clients send placeholders (``kafka_key: "tmp"``); the intake replaces them, so every stored event
carries ids that later stages rely on:

* ``kafka_key`` is the dedupe id. For plugin events it is one per plugin name+version (a
  re-registration overwrites), for status events one per dequeue per plugin (a heartbeat is
  overwritten by the final status), for binary events one per submission+path step with the author
  *version* left out (so a new plugin version replaces the old result), random for the rest.
* ``track_source_references`` names a submission: source plus a digest of its references.
* ``track_authors`` and ``track_links`` name every step of the path, so purge can select by them.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from azul_metastore.models.events import (
    Author,
    BaseEvent,
    BinaryEvent,
    InsertEvent,
    PathNode,
    PluginEvent,
    StatusEvent,
)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def references_digest(references: dict[str, str], keys: list[str] | None = None) -> str:
    """md5 of ``k1.v1.k2.v2.`` over the sorted keys (all keys, or only ``keys`` when given)."""
    chosen = sorted(references if keys is None else [k for k in references if k in keys])
    return _md5("".join(f"{k}.{references[k]}." for k in chosen))


def track_source_references(source_name: str, references: dict[str, str]) -> str:
    return f"{source_name}.{references_digest(references)}"


def track_author(author: Author) -> str:
    return f"{author.category or ''}.{author.name}.{author.version or ''}"


def go_timestamp(ts: datetime) -> str:
    """A timestamp in Go's ``2006_01_02T15_04_05Z07_00`` layout, as the dispatcher writes links."""
    text = ts.strftime("%Y_%m_%dT%H_%M_%S")
    offset = ts.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}_{minutes % 60:02d}"


def track_link(parent: PathNode, child: PathNode) -> str:
    return f"{parent.sha256}.{child.sha256}.{go_timestamp(child.timestamp)}.{track_author(child.author)}"


def binary_kafka_key(event: BinaryEvent) -> str:
    src = event.source
    parts = [src.name, src.security or "", src.timestamp.isoformat()[:19]]
    parts += sorted(f"{k}.{v}" for k, v in src.references.items())
    parts += sorted(f"{k}.{v}" for k, v in src.settings.items())
    parts += sorted({n.author.security or "" for n in src.path})
    for node in src.path[-2:]:
        parts += [node.author.name, node.action.value, node.sha256]
    return _md5("|".join(parts))


def assign_tracking(event: BaseEvent) -> None:
    """Set ``kafka_key`` and the track fields in place, replacing whatever the client sent."""
    if isinstance(event, BinaryEvent):
        path = event.source.path
        event.kafka_key = binary_kafka_key(event)
        event.track_source_references = track_source_references(event.source.name, event.source.references)
        event.track_authors = [track_author(n.author) for n in path]
        event.track_links = [track_link(path[i - 1], path[i]) for i in range(1, len(path))]
    elif isinstance(event, PluginEvent):
        event.kafka_key = _md5(f"{event.entity.name}.{event.entity.version or ''}")
    elif isinstance(event, StatusEvent) and event.entity.input.dequeued:
        event.kafka_key = _md5(f"{event.entity.input.dequeued}.{event.author.name}")
    elif isinstance(event, InsertEvent):
        event.kafka_key = uuid.uuid4().hex
        parent_node = PathNode(
            sha256=event.entity.parent_sha256,
            action=event.entity.child_history.action,
            timestamp=event.entity.child_history.timestamp,
            author=event.entity.child_history.author,
        )
        event.track_link = track_link(parent_node, event.entity.child_history)
        event.track_author = track_author(event.entity.child_history.author)
    else:
        event.kafka_key = uuid.uuid4().hex
