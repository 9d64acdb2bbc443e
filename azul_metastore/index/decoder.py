"""Binary metadata documents back to binary events, best effort (inventory §4.11).

Expedite, dataless submissions and child inserts start from what the index holds, not from the
original event, so they need an event rebuilt from one metadata document. The document keeps only
the last path step (and the parent for links), so deeper lineage is lost: the rebuilt path has the
binary's own node, preceded by its parent when the document has a link part. Enriched documents
carry no source, so their rebuilt events have none either and will not validate as new events
without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from azul_metastore.models.events import CURRENT_MODEL_VERSION

__all__ = ["decode_binary"]

_ENTITY_KEYS = (
    "sha256",
    "sha512",
    "sha1",
    "md5",
    "ssdeep",
    "tlsh",
    "mime",
    "magic",
    "file_format",
    "file_extension",
    "size",
    "datastreams",
    "features",
    "info",
)


def _child_node(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The binary's own path node, from the fields the document kept."""
    node: dict[str, Any] = {}
    for key in ("sha256", "action", "timestamp", "author", "file_format", "size"):
        if key in doc:
            node[key] = doc[key]
    if doc.get("parent_relationship"):
        node["relationship"] = doc["parent_relationship"]
    return node


def decode_binary(body: Mapping[str, Any]) -> dict[str, Any]:
    """A binary event (JSON form) rebuilt from a metadata document body; the input is not modified.

    ``kafka_key`` is the placeholder ``"tmp"``: intake assigns the real one when the event is
    published again.
    """
    doc: dict[str, Any] = orjson.loads(orjson.dumps(body))  # a deep copy, faster than copy.deepcopy
    event: dict[str, Any] = {"model_version": CURRENT_MODEL_VERSION, "kafka_key": "tmp"}
    for key in ("timestamp", "author", "action"):
        if key in doc:
            event[key] = doc[key]
    if "track_author" in doc:
        event["track_authors"] = [doc["track_author"]]
    source = doc.get("source")
    if isinstance(source, dict):
        source.pop("encoded_references", None)
        source.pop("encoded_settings", None)
        path = [_child_node(doc)]
        parent = doc.get("parent")
        if isinstance(parent, dict):
            parent.pop("encoded", None)
            path.insert(0, parent)
            if "parent_track_author" in doc:
                event.setdefault("track_authors", []).insert(0, doc["parent_track_author"])
            if "track_link" in doc:
                event["track_links"] = [doc["track_link"]]
        source["path"] = path
        event["source"] = source
        if "track_source_references" in doc:
            event["track_source_references"] = doc["track_source_references"]
    entity = {key: doc[key] for key in _ENTITY_KEYS if key in doc}
    for feature in entity.get("features") or ():
        feature.pop("encoded", None)
        feature.pop("enriched", None)
    event["entity"] = entity
    return event
