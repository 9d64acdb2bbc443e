"""Plugin processing state of one binary (``/binaries/{sha256}/statuses``, inventory §6.8).

As Azul: every registered plugin version starts ``inactive``; the binary's best event (a
submission with content first, then the shallowest, then the newest) is simulated against the
consumers of binary events (``EventDispatch.simulate``: the filters of each plugin's latest
fetch), so a registered plugin that would take it is ``queued`` and one whose filters drop it
``prefiltered`` (the message names the filter); the real status documents are laid over those
(with how many times each plugin completed); what stayed inactive is dropped. A plugin that has
not fetched since the dispatcher's registry forgot it (``events/consumers.py``) is not simulated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from azul_metastore.errors import NotFound
from azul_metastore.events.dispatch import EventDispatch
from azul_metastore.index.decoder import decode_binary
from azul_metastore.index.port import MetadataStore
from azul_metastore.models.events import BinaryEvent
from azul_metastore.search.models import Status
from azul_metastore.search.models_features import Author, StatusEvent
from azul_metastore.search.plugins import SUCCESS_STATUSES, registered_versions, status_event
from azul_metastore.security import Access

__all__ = ["HEARTBEAT_TIMEOUT", "binary_statuses"]

#: a plugin whose last word on a binary is a heartbeat older than this has lost it (as Azul)
HEARTBEAT_TIMEOUT = timedelta(minutes=2)


def _parse(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def binary_statuses(index: MetadataStore, sha256: str, access: Access, now: datetime | None = None,
                    dispatch: EventDispatch | None = None) -> Status:
    """The newest visible status of each plugin (name, category, version) about the binary, with how
    many times it completed, over ``queued``/``prefiltered`` for the registered plugins the
    binary's best event was simulated for (with ``dispatch``); sorted by plugin name. NotFound
    when there are none."""
    now = now or datetime.now(UTC)
    sha256 = sha256.lower()
    newest: dict[str, dict] = {}
    completed: dict[str, int] = {}
    for doc in index.statuses(access, sha256=sha256):
        author = (doc.get("encoded") or {}).get("author") or ""
        newest.setdefault(author, doc)  # newest first
        if (doc.get("entity") or {}).get("status") in SUCCESS_STATUSES:
            completed[author] = completed.get(author, 0) + 1
    items: dict[str, StatusEvent] = {}
    if dispatch is not None:
        items.update(_simulated(index, dispatch, sha256, access, now))
    for author, doc in newest.items():
        event = status_event(doc, completed.get(author, 0))
        when = _parse(event.timestamp)
        if event.entity.status == "heartbeat" and when is not None and now - when > HEARTBEAT_TIMEOUT:
            event.entity.status = "heartbeat-lost"
        items[author] = event
    if not items:
        raise NotFound(f"no plugin statuses for binary {sha256} that you may see", sha256=sha256)
    return Status(items=sorted(items.values(), key=lambda e: (e.author.name.lower(), e.author.version or "")))


def _best(docs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The document a plugin would have been handed the binary by: a submission with content
    (sourced or extracted) first, then the shallowest, then the newest submission."""
    def rank(doc: dict[str, Any]) -> tuple[int, int, str]:
        has_content = any(s.get("label") == "content" for s in doc.get("datastreams") or ())
        submitted = doc.get("action") in ("sourced", "extracted")
        newest = "".join(chr(0x10FFFF - ord(c)) for c in str((doc.get("source") or {}).get("timestamp") or ""))
        return (0 if has_content and submitted else 1, int(doc.get("depth") or 0), newest)

    return min(docs, key=rank) if docs else None


def _simulated(index: MetadataStore, dispatch: EventDispatch, sha256: str, access: Access,
               now: datetime) -> dict[str, StatusEvent]:
    """``queued``/``prefiltered`` of the registered plugin versions the dispatcher simulates the
    binary's best event for, keyed as status documents are (``name.category.version``)."""
    best = _best(index.documents([sha256], access, limit=_DOCS))
    if best is None:
        return {}
    try:
        event = BinaryEvent.model_validate(decode_binary(best))
    except ValueError:  # a document no event can be rebuilt from: nothing to simulate
        return {}
    registered = registered_versions(index, access)
    out: dict[str, StatusEvent] = {}
    for verdict in dispatch.simulate(event):
        registration = registered.get((verdict.name, verdict.version))
        if registration is None:
            continue
        category, security = registration
        out[f"{verdict.name}.{category}.{verdict.version}"] = StatusEvent(
            timestamp=now.isoformat().replace("+00:00", "Z"),
            author=Author(name=verdict.name, category=category, version=verdict.version),
            entity={"status": "prefiltered" if verdict.filter_out else "queued",
                    "message": verdict.filter_out_trigger or None, "input": {"entity": {"sha256": sha256}}},
            security=security)
    return out


#: documents of a binary considered for its best event
_DOCS = 200
