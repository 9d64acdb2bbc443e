"""Status documents: what a plugin did with a binary, and download outcomes shown the same way (§4.7).

A status keeps only the sha256 of the event it answers: the full input event is already stored as
binary metadata, and statuses are numerous (one per plugin per binary), so anything more would
multiply the index size. Ids are the dispatcher's ``kafka_key`` (one per dequeue per plugin), so a
final status overwrites the heartbeats before it. Documents are partitioned into time buckets so
that retention can drop whole buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azul_metastore.index.documents import STATUS, Document, EncodeError
from azul_metastore.index.labelling import DocumentSecurity
from azul_metastore.index.timestamps import partition_key, to_utc_text

__all__ = ["DOWNLOAD_STATUS", "download_document", "status_document"]

#: download action → (status, the message stored with it)
DOWNLOAD_STATUS: dict[str, tuple[str, str]] = {
    "requested": ("download-requested", "Download of the file from the external source was requested."),
    "success": ("completed", "The file was downloaded from the external source."),
    "failed": ("error-exception", "Downloading the file from the external source failed."),
    "failed-not-found": ("opt-out", "The external source does not have the file."),
    "skipped-already-present": ("opt-out", "The file is already stored, so it was not downloaded again."),
}


def status_document(event: Mapping[str, Any], security: DocumentSecurity, unit: str) -> Document:
    """The status document of a status event; ``unit`` is ``status_partition_unit``."""
    author = security.author(event["author"], "author.security")
    entity = event["entity"]
    given = entity["input"]
    securities = [author["security"], *security.path_securities(given.get("source") or {}, "entity.input.source")]
    stored: dict[str, Any] = {"status": entity["status"]}
    for key in ("error", "message", "runtime"):
        value = entity.get(key)
        if value is not None:
            stored[key] = value
    sha256 = (given.get("entity") or {}).get("sha256")
    stored["input"] = {"entity": {"sha256": sha256.lower()} if sha256 else {}}
    return _document(event, author, security, tuple(securities), stored, unit)


def download_document(event: Mapping[str, Any], security: DocumentSecurity, unit: str) -> Document:
    """The status document of a download event: action mapped to a status, with a fixed message."""
    author = security.author(event["author"], "author.security")
    securities = [author["security"], *security.path_securities(event.get("source") or {}, "source")]
    action = event["action"]
    mapped = DOWNLOAD_STATUS.get(action)
    if mapped is None:
        raise EncodeError(f"download action {action!r} is not one of: {', '.join(DOWNLOAD_STATUS)}", "bad_value")
    stored = {
        "status": mapped[0],
        "error": "",
        "message": mapped[1],
        "runtime": 0,
        "input": {"entity": {"sha256": str(event["entity"]["hash"]).lower()}},
    }
    return _document(event, author, security, tuple(securities), stored, unit)


def _document(
    event: Mapping[str, Any],
    author: dict[str, Any],
    security: DocumentSecurity,
    securities: tuple[str, ...],
    entity: dict[str, Any],
    unit: str,
) -> Document:
    combined = security.combine(securities)
    timestamp = to_utc_text(event["timestamp"])
    body = {
        "security": combined,
        "encoded_security": security.encoded(combined),
        "timestamp": timestamp,
        "model_version": event["model_version"],
        "author": author,
        "entity": entity,
        # name.category.version - the order Azul's status summaries group by
        "encoded": {"author": f"{author['name']}.{author.get('category') or ''}.{author.get('version') or ''}"},
    }
    return Document(STATUS, event["kafka_key"], body, partition=partition_key(timestamp, unit))
