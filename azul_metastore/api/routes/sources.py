"""Source routes (``/api/v0/sources...``, inventory §2.7): parse, call ``search.sources``, envelope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.search import sources

router = APIRouter(tags=["sources"])

Svc = Annotated[Services, Depends(services)]
TermQ = Annotated[str | None, Query(description="only reference sets with a value containing this (any case)")]


@router.get("/sources")
def list_sources(svc: Svc, caller: CallerAccess) -> JSON:
    """Every configured source's settings, with the computed ``kafka_config_full`` and ``expire_events_ms``."""
    return enveloped(sources.all_sources(svc.settings), caller)


@router.head("/sources/{source}")
def source_exists(svc: Svc, caller: CallerAccess, source: str) -> Response:
    """200 when the source is configured, else 404 (configuration only)."""
    return Response(status_code=200 if sources.source_exists(svc.settings, source) else 404)


@router.get("/sources/{source}")
def read_source(svc: Svc, caller: CallerAccess, source: str) -> JSON:
    """The source's newest visible submission and how many binaries were submitted to it."""
    return enveloped(sources.read_source(svc.index, svc.settings, source, caller).model_dump(mode="json"), caller)


@router.get("/sources/{source}/references")
def references(svc: Svc, caller: CallerAccess, source: str, term: TermQ = None) -> JSON:
    """The newest reference sets submitted to the source."""
    found = sources.references(svc.index, svc.settings, source, caller, term=term or None)
    return enveloped(found.model_dump(mode="json"), caller)


@router.get("/sources/{source}/references/grouped")
def grouped_references(svc: Svc, caller: CallerAccess, source: str, term: TermQ = None) -> JSON:
    """The newest reference sets, grouped by the source's priority references."""
    found = sources.grouped_references(svc.index, svc.settings, source, caller, term=term or None)
    return enveloped(found.model_dump(mode="json"), caller)


@router.get("/sources/{source}/submissions")
def submissions(svc: Svc, caller: CallerAccess, source: str, track_source_references: str | None = None,
                timestamp: datetime | None = None) -> JSON:
    """Submissions to the source, one per (reference set, time), optionally only one of each."""
    found = sources.submissions(svc.index, svc.settings, source, caller,
                                track_source_references=track_source_references or None, timestamp=timestamp)
    return enveloped(found.model_dump(mode="json"), caller)
