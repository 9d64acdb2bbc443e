"""Requests to fetch a binary from an external service (VirusTotal-style), inventory §2.4 and §7.6.

A request is a ``download`` event with action ``requested``: download plugins pick it up, and their
success or failure arrives later as more download events (and, on success, a normal binary
submission). The request's status document (``download-requested``) is indexed at once so the
progress view shows it immediately. As in Azul, the source and references are not checked against
the configuration here: the download plugin decides what it can fetch.
"""

from __future__ import annotations

from typing import Any

from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.errors import NotFound
from azul_metastore.events.intake import event_json
from azul_metastore.models.events import (
    CURRENT_MODEL_VERSION,
    DownloadAction,
    DownloadEntity,
    DownloadEvent,
    Source,
    now_utc,
    utc_iso,
)
from azul_metastore.search.plugins import status_event
from azul_metastore.security import Access
from azul_metastore.submissions.checks import check_sha256, check_writable
from azul_metastore.submissions.entities import user_author

__all__ = ["download_statuses", "request_download"]


def request_download(svc: Services, access: Access, *, sha256: str, source_id: str, security: str = "",
                     references: dict[str, str] | None = None, settings: dict[str, str] | None = None,
                     request_id: str = "") -> dict[str, Any]:
    """Publish a download request; Azul's ``DownloadResponse``. ReadOnly (423), InvalidSecurity (422).

    A blank security means the configured default (the caller must still be allowed to assign it).
    """
    check_writable(svc.settings)
    sha256 = check_sha256(sha256, "sha256")
    normalised = access.require_assignable(security or None)
    now = now_utc()
    author = user_author(access.username, normalised)
    event = DownloadEvent(model_version=CURRENT_MODEL_VERSION, kafka_key="tmp", timestamp=now, author=author,
                          action=DownloadAction.requested, entity=DownloadEntity(hash=sha256),
                          source=Source(name=source_id, timestamp=now, references=references or {},
                                        settings=settings or {}, security=normalised, path=[]))
    svc.intake.publish("download", [event])
    svc.indexer().index("download", [event_json(event)])
    svc.index.refresh()  # indexed here so the request shows in the binary's statuses at once
    audit("download_request", user=access.username, request_id=request_id, sha256=sha256, source=source_id,
          references=references or {})
    return {"sha256": sha256, "last_download_security": normalised, "last_download_timestamp": utc_iso(now),
            "last_download_author_name": access.username, "plugin_statuses": []}


def download_statuses(svc: Services, access: Access, sha256: str, *,
                      include_download_requests: bool = False) -> list[dict[str, Any]]:
    """Statuses of the download plugins for a binary, newest first (``list[StatusEvent]``); the
    ``download-requested`` entries only when asked. NotFound (404) when the binary has no status."""
    sha256 = sha256.lower()
    docs = svc.index.statuses(access, sha256=sha256)
    if not docs:
        raise NotFound(f"binary {sha256} has no statuses visible to you", sha256=sha256)
    downloaders = {(d["entity"].get("name"), d["entity"].get("version")) for d in svc.index.plugins(access)
                   if (d.get("encoded") or {}).get("is_processing_download_events")}
    out = []
    for doc in docs:
        author = doc.get("author") or {}
        requested = (doc.get("entity") or {}).get("status") == "download-requested"
        if (requested and include_download_requests) or (author.get("name"), author.get("version")) in downloaders:
            out.append(status_event(doc).model_dump(mode="json", exclude_none=True))
    return out
