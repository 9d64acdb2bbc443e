"""The events a submission publishes, built from stored datastreams (inventory §3.2, §3.5, §7.2-7.3).

* :func:`content_entity` - Azul's ``Datastream.to_input_entity()`` plus the ``filename`` and
  ``submission_file_extension`` features;
* :func:`sourced_event` - a root submission to a source;
* :func:`extracted_event` - a manually inserted child, grafted below one of the parent's
  submissions (the parent's path, source and references kept, so it shows in that submission);
* :func:`insert_event` - the record of the manual insert itself (``model=insert``);
* :func:`binary_data` - the ``BinaryData`` each submit endpoint answers per file.
"""

from __future__ import annotations

import posixpath
from datetime import datetime
from typing import Any

from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    Author,
    BinaryAction,
    BinaryEntity,
    BinaryEvent,
    DataLabel,
    Datastream,
    FeatureType,
    FeatureValue,
    FileInfo,
    InsertEntity,
    InsertEvent,
    PathNode,
    Source,
)

__all__ = ["basename", "binary_data", "content_entity", "extracted_event", "insert_event", "sourced_event",
           "user_author"]

_FILEINFO = tuple(FileInfo.model_fields)


def basename(name: str | None) -> str | None:
    """The last part of a path written with ``/`` or ``\\`` (Windows names arrive both ways)."""
    if not name:
        return None
    return posixpath.basename(name.replace("\\", "/")) or None


def user_author(username: str, security: str) -> Author:
    return Author(category="user", name=username, security=security)


def content_entity(content: Datastream, filename: str | None, alt_streams: list[Datastream] = ()) -> BinaryEntity:
    """The entity of submitted bytes: identification, type features, the file name, all streams."""
    info = {k: getattr(content, k) for k in _FILEINFO}
    features = [FeatureValue(name=k, type=FeatureType.string, value=info[k])
                for k in ("file_format", "file_extension", "magic", "mime") if info.get(k)]
    if filename:
        features.append(FeatureValue(name="filename", type=FeatureType.filepath, value=filename))
        ext = posixpath.splitext(basename(filename) or "")[1].lstrip(".")
        if ext:
            features.append(FeatureValue(name="submission_file_extension", type=FeatureType.string, value=ext))
    stream = content.model_copy(update={"label": DataLabel.content})
    return BinaryEntity(**info, features=features, datastreams=[stream, *alt_streams])


def _settings(settings: dict[str, str], depth: int) -> dict[str, str]:
    # Submission settings are for the first layer of plugins only: the dispatcher strips them below.
    return {**settings, "remove_at_depth": str(depth)} if settings else {}


def sourced_event(*, author: Author, entity: BinaryEntity, source: str, timestamp: datetime,
                  references: dict[str, str], settings: dict[str, str], security: str,
                  filename: str | None) -> BinaryEvent:
    """A ``sourced`` event: the root of a submission's lineage."""
    node = PathNode(sha256=entity.sha256 or "", action=BinaryAction.sourced, timestamp=timestamp, author=author,
                    filename=basename(filename), size=entity.size, file_format=entity.file_format)
    return BinaryEvent(
        model_version=CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=timestamp, author=author,
        action=BinaryAction.sourced, entity=entity,
        source=Source(name=source, timestamp=timestamp, references=references, settings=_settings(settings, 2),
                      security=security, path=[node]),
    )


def child_node(*, author: Author, entity: BinaryEntity, timestamp: datetime, relationship: dict[str, str],
               filename: str | None) -> PathNode:
    return PathNode(sha256=entity.sha256 or "", action=BinaryAction.extracted, timestamp=timestamp, author=author,
                    relationship=relationship, filename=basename(filename), size=entity.size,
                    file_format=entity.file_format)


def extracted_event(parent: dict[str, Any], *, author: Author, entity: BinaryEntity, node: PathNode,
                    timestamp: datetime, settings: dict[str, str]) -> BinaryEvent:
    """The child's ``extracted`` event below one decoded submission event of the parent."""
    source = dict(parent["source"])
    path = [*source["path"], node.model_dump(mode="json", exclude_none=True)]
    source["path"] = path
    source["settings"] = _settings(settings, len(path) + 1)
    return BinaryEvent.model_validate({
        "model_version": CURRENT_MODEL_VERSION, "kafka_key": "tmp", "timestamp": timestamp,
        "author": author.model_dump(exclude_none=True), "action": BinaryAction.extracted.value,
        "entity": entity.model_dump(exclude_none=True), "source": source,
    })


def insert_event(*, author: Author, original_source: str, parent_sha256: str, entity: BinaryEntity,
                 node: PathNode, timestamp: datetime) -> InsertEvent:
    return InsertEvent(model_version=CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=timestamp, author=author,
                       entity=InsertEntity(original_source=original_source, parent_sha256=parent_sha256,
                                           child=entity, child_history=node))


def binary_data(entity: BinaryEntity, filename: str | None, track_source_references: str | None) -> dict[str, Any]:
    """azul-client's ``BinaryData``: the file's identification, its name and its submission id."""
    out: dict[str, Any] = {k: getattr(entity, k) for k in _FILEINFO if getattr(entity, k) is not None}
    if filename:
        out["filename"] = filename
    if track_source_references:
        out["track_source_references"] = track_source_references
    out["label"] = "content"
    return out
