"""Re-enqueueing and plugin failures (``/api/v0``): reprocess what a search finds, follow the job,
list a plugin's lost and failed tasks, and retry them in bulk.

Reprocessing and retrying publish work for plugins, so they need an admin; the failure listing is
open to any caller but shows only binaries the caller may see.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from azul_metastore.api.auth import AdminAccess, CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.errors import request_id
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.lifecycle.jobs import lifecycle
from azul_metastore.lifecycle.task_state import FAILED, LOST

router = APIRouter(tags=["lifecycle"])

Svc = Annotated[Services, Depends(services)]
StatusQ = Annotated[str | None, Query(description="only tasks whose last status is this (error-network ...)")]


@router.post("/binaries/reprocess")
def reprocess(svc: Svc, request: Request, caller: AdminAccess,
              term: Annotated[str, Query(description="search term selecting the binaries ('' = all)")] = "",
              plugin: Annotated[str | None, Query(description="only this plugin reprocesses")] = None,
              dry_run: Annotated[bool, Query(description="only count the binaries found")] = False) -> JSON:
    """Publish the events of every binary the term finds again, throttled; answers the job to follow."""
    reprocessor = lifecycle(svc).reprocessor()
    count = reprocessor.count(term, caller)
    if dry_run:
        return enveloped({"count": count}, caller)
    job = reprocessor.start(term, plugin, caller)
    audit("reprocess", user=caller.username, request_id=request_id(request), term=term, plugin=plugin, job=job,
          count=count)
    return enveloped({"job": job, "count": count}, caller)


@router.get("/binaries/reprocess/{job}")
def reprocess_progress(svc: Svc, caller: AdminAccess, job: str) -> JSON:
    """A reprocess job: state (running, done, failed), binaries found, events published so far."""
    return enveloped(lifecycle(svc).reprocessor().job(job), caller)


@router.get("/plugins/{name}/failures")
def failures(svc: Svc, caller: CallerAccess, name: str, status: StatusQ = None,
             limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> JSON:
    """The plugin's lost and failed tasks, newest first, with attempts and the last error."""
    tasks = lifecycle(svc).state.tasks(name, states=(FAILED, LOST), status=status, limit=limit)
    wanted = sorted({t.sha256 for t in tasks if t.sha256})
    visible: set[str] = set()
    for i in range(0, len(wanted), 500):
        visible.update(d["sha256"] for d in svc.index.documents(wanted[i:i + 500], caller))
    return enveloped([t.summary() for t in tasks if t.sha256 in visible], caller)


@router.post("/plugins/{name}/failures/retry")
def retry_failures(svc: Svc, request: Request, caller: AdminAccess, name: str, status: StatusQ = None) -> JSON:
    """Publish the plugin's lost and failed tasks (optionally of one status) to its retry lane again."""
    retried = lifecycle(svc).lost_tasks().retry_failures(name, status)
    audit("retry_failures", user=caller.username, request_id=request_id(request), plugin=name, status=status,
          retried=retried)
    return enveloped({"retried": retried}, caller)
