"""Statistics and read-only routes (``/api/v0/statistics``, ``/api/v0/readonly``; inventory §2.8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import bare, enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.search import sources

router = APIRouter(tags=["statistics"])

Svc = Annotated[Services, Depends(services)]


@router.get("/statistics")
def statistics(svc: Svc, caller: CallerAccess) -> JSON:
    """How many binaries the caller can see (Azul counted all of them, whoever asked)."""
    return enveloped(sources.statistics(svc.index, caller).model_dump(mode="json"), caller)


@router.get("/readonly")
def readonly(svc: Svc, caller: CallerAccess) -> JSON:
    """Whether the server refuses submissions (``readonly_mode``): a bare ``true``/``false``."""
    return bare(svc.settings.readonly_mode, caller)
