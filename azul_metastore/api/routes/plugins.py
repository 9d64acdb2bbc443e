"""Plugin routes (``/api/v0/plugins...``, inventory §2.6): parse, call ``search.plugins``, envelope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.search import plugins

router = APIRouter(tags=["plugins"])

Svc = Annotated[Services, Depends(services)]


@router.get("/plugins")
def list_plugins(svc: Svc, caller: CallerAccess) -> JSON:
    """Registered plugins with their versions, newest first; an empty list when there are none."""
    return enveloped([p.model_dump(mode="json") for p in plugins.latest_plugins(svc.index, caller)], caller)


@router.get("/plugins/status")
def plugin_statuses(svc: Svc, caller: CallerAccess) -> JSON:
    """Each plugin's success and error counts over the last week and its last completion."""
    return enveloped([p.model_dump(mode="json") for p in plugins.plugin_statuses(svc.index, caller)], caller)


@router.get("/plugins/download")
def download_plugins(svc: Svc, caller: CallerAccess) -> JSON:
    """Plugins that download files from external sources (404 when none)."""
    return enveloped([a.model_dump(mode="json") for a in plugins.download_plugins(svc.index, caller)], caller)


@router.get("/plugins/{name}/versions/{version}")
def plugin_info(svc: Svc, caller: CallerAccess, name: str, version: str) -> JSON:
    """One plugin version: binaries it produced results for and its recent statuses."""
    return enveloped(plugins.plugin_info(svc.index, name, version, caller).model_dump(mode="json"), caller)
