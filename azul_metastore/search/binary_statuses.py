"""Plugin processing state of one binary (``/binaries/{sha256}/statuses``, inventory §6.8).

Azul starts from every registered plugin as ``inactive``, asks the dispatcher which would take the
binary's best event (``queued`` or ``prefiltered``), overlays the real status documents and drops
what stayed inactive. This project has no dispatcher-side filter configuration to simulate with
(plugins send their filters with each fetch), so it cannot say honestly which plugins *would* be
queued or prefiltered: the answer is the real statuses only, which is what remains of Azul's
answer for every plugin that has already reported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from azul_metastore.errors import NotFound
from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models import Status
from azul_metastore.search.plugins import SUCCESS_STATUSES, status_event
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


def binary_statuses(index: MetadataStore, sha256: str, access: Access, now: datetime | None = None) -> Status:
    """The newest visible status of each plugin (name, category, version) about the binary, with how
    many times it completed; sorted by plugin name. NotFound when there are none."""
    now = now or datetime.now(UTC)
    newest: dict[str, dict] = {}
    completed: dict[str, int] = {}
    for doc in index.statuses(access, sha256=sha256.lower()):
        author = (doc.get("encoded") or {}).get("author") or ""
        newest.setdefault(author, doc)  # newest first
        if (doc.get("entity") or {}).get("status") in SUCCESS_STATUSES:
            completed[author] = completed.get(author, 0) + 1
    if not newest:
        raise NotFound(f"no plugin statuses for binary {sha256} that you may see", sha256=sha256)
    items = []
    for author, doc in newest.items():
        event = status_event(doc, completed.get(author, 0))
        when = _parse(event.timestamp)
        if event.entity.status == "heartbeat" and when is not None and now - when > HEARTBEAT_TIMEOUT:
            event.entity.status = "heartbeat-lost"
        items.append(event)
    items.sort(key=lambda e: (e.author.name.lower(), e.author.version or ""))
    return Status(items=items)
