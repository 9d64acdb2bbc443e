"""Purge routes (``/api/v0/purge...``, inventory §2.10), admin only: simulate by default
(``purge=false`` answers ``PurgeSimulation{events}``), ``purge=true`` deletes and answers
``PurgeResults{events_purged, binaries_kept, binaries_purged}``; 400 when nothing matches.
Azul has no REST route for author purges (the CLI has one); ``binary`` is ours (the seed's).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from azul_metastore.api.auth import AdminAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.errors import request_id
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.lifecycle.purge import PurgeKind, PurgeRequest
from azul_metastore.security import Access

router = APIRouter(tags=["purge"])

Svc = Annotated[Services, Depends(services)]
PurgeQ = Annotated[bool, Query(description="delete for real; false (the default) only counts what matches")]


def _run(svc: Services, request: Request, caller: Access, kind: PurgeKind, value: str, timestamp: str | None,
         really: bool) -> JSON:
    wanted = PurgeRequest(kind, value, timestamp)
    purger = lifecycle(svc).purger()
    if not really:
        return enveloped(purger.simulate(wanted).model_dump(), caller)
    results = purger.purge(wanted, caller.username)
    audit("purge", user=caller.username, request_id=request_id(request), kind=kind, value=value,
          timestamp=timestamp, events_purged=results.events_purged, binaries_purged=results.binaries_purged)
    return enveloped(results.model_dump(), caller)


@router.delete("/purge/submission/{track_source_references}")
def purge_submission(svc: Svc, request: Request, caller: AdminAccess, track_source_references: str,
                     timestamp: Annotated[str, Query(description="the submission's source.timestamp")],
                     purge: PurgeQ = False) -> JSON:
    """Purge one submission and what it brought (descendants without another parent, bytes)."""
    return _run(svc, request, caller, "submission", track_source_references, timestamp, purge)


@router.delete("/purge/link/{track_link}")
def purge_link(svc: Svc, request: Request, caller: AdminAccess, track_link: str, purge: PurgeQ = False) -> JSON:
    """Purge a parent→child link, and the child if that was its only parent."""
    return _run(svc, request, caller, "link", track_link, None, purge)


@router.delete("/purge/binary/{sha256}")
def purge_binary(svc: Svc, request: Request, caller: AdminAccess, sha256: str, purge: PurgeQ = False) -> JSON:
    """Purge a binary, its descendants without another parent, their results and bytes."""
    return _run(svc, request, caller, "binary", sha256, None, purge)
