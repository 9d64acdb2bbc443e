"""Submission routes (``/api/v0/binaries/source...``, ``/child...``, ``/{sha256}/expedite``; inventory
§2.3): spool the multipart form to the data volume, call one ``submissions`` function, answer the
bare ``BinaryData`` list Azul answers (no envelope).

Forms are read by our own spooler, not FastAPI's ``Form``/``UploadFile``: azul-client sends an
archive to extract without a filename, which Starlette would take for a 1 MiB text field (see
``submissions/spool.py``). The read-only check runs before the body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import bare
from azul_metastore.api.errors import request_id
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.submissions import children, expedite, submit
from azul_metastore.submissions.checks import check_writable
from azul_metastore.submissions.spool import MultipartSpooler, SpooledForm
from azul_metastore.submissions.submit import SubmitForm, SubmitOptions

router = APIRouter(tags=["binaries submit"])

Svc = Annotated[Services, Depends(services)]
Sha256 = Annotated[str, PathParam(pattern=r"^[a-fA-F0-9]{64}$")]
ExtractQ = Annotated[bool, Query(description="the upload is a ZIP or TAR archive: submit each file in it")]
PasswordQ = Annotated[str | None, Query(description="password of an encrypted ZIP (empty: none)")]
RefreshQ = Annotated[bool, Query(description="index before answering, so the binary is searchable at once")]
_BATCH = 1024 * 1024


def writable(svc: Svc) -> None:
    """423 before anything is read when the server is read-only."""
    check_writable(svc.settings)


Writable = Depends(writable)


@contextlib.asynccontextmanager
async def spooled(request: Request, svc: Services) -> AsyncIterator[tuple[SpooledForm, Path]]:
    """The request's form spooled to a work folder under ``data_dir/tmp``, removed afterwards."""
    root = svc.settings.data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="submit-", dir=root))
    try:
        spooler = await run_in_threadpool(MultipartSpooler, request.headers.get("content-type", ""),
                                          workdir / "form", max_bytes=svc.settings.upload_max_bytes)
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                batch.append(chunk)
                size += len(chunk)
                if size >= _BATCH:
                    data, batch, size = b"".join(batch), [], 0
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(run_in_threadpool(spooler.feed, data))
            if pending is not None:
                await pending
                pending = None
            if batch:
                await run_in_threadpool(spooler.feed, b"".join(batch))
            form = await run_in_threadpool(spooler.finish)
        except BaseException:
            if pending is not None:
                with contextlib.suppress(Exception):  # the first error is the one to report
                    await pending
            spooler.abort()
            raise
        yield form, workdir
    finally:
        await run_in_threadpool(shutil.rmtree, workdir, True)


def _options(extract: bool, password: str | None, refresh: bool) -> SubmitOptions:
    # azul-client sends password= (empty) when there is none
    return SubmitOptions(extract=extract, password=password or None, refresh=refresh)


@router.post("/binaries/source", dependencies=[Writable])
async def submit_source(request: Request, svc: Svc, caller: CallerAccess, extract: ExtractQ = False,
                        password: PasswordQ = None, refresh: RefreshQ = False) -> JSON:
    """Submit a file (form ``binary``; CaRT and MALPZ are unwrapped) or each file of an archive to a
    source, with references, settings, alternate streams (``stream_data`` + ``stream_labels``)."""
    async with spooled(request, svc) as (form, workdir):
        results = await run_in_threadpool(submit.submit_source, svc, caller, SubmitForm.from_spooled(form),
                                          _options(extract, password, refresh), workdir, request_id(request))
    return bare(results, caller)


@router.post("/binaries/source/dataless", dependencies=[Writable])
async def submit_source_dataless(request: Request, svc: Svc, caller: CallerAccess,
                                 refresh: RefreshQ = False) -> JSON:
    """Submit a binary the metastore already holds (form ``sha256``) to a source, without its bytes."""
    async with spooled(request, svc) as (form, _workdir):
        results = await run_in_threadpool(submit.submit_source_dataless, svc, caller, SubmitForm.from_spooled(form),
                                          _options(False, None, refresh), request_id(request))
    return bare(results, caller)


@router.post("/binaries/child", dependencies=[Writable])
async def submit_child(request: Request, svc: Svc, caller: CallerAccess, extract: ExtractQ = False,
                       password: PasswordQ = None, refresh: RefreshQ = False) -> JSON:
    """Submit a file (or each file of an archive) as a child of ``parent_sha256`` with a ``relationship``."""
    async with spooled(request, svc) as (form, workdir):
        results = await run_in_threadpool(children.submit_child, svc, caller, SubmitForm.from_spooled(form),
                                          _options(extract, password, refresh), workdir, request_id(request))
    return bare(results, caller)


@router.post("/binaries/child/dataless", dependencies=[Writable])
async def submit_child_dataless(request: Request, svc: Svc, caller: CallerAccess, refresh: RefreshQ = False) -> JSON:
    """Link a binary the metastore holds (form ``sha256``) as a child of ``parent_sha256``."""
    async with spooled(request, svc) as (form, _workdir):
        results = await run_in_threadpool(children.submit_child_dataless, svc, caller, SubmitForm.from_spooled(form),
                                          _options(False, None, refresh), request_id(request))
    return bare(results, caller)


@router.post("/binaries/{sha256}/expedite", dependencies=[Writable])
def expedite_binary(request: Request, svc: Svc, caller: CallerAccess, sha256: Sha256,
                    bypass_cache: Annotated[bool, Query(description="plugins recompute instead of using "
                                                                     "their result cache")] = False) -> JSON:
    """Run the plugins on a binary again, ahead of other work; answers ``true``."""
    done = expedite.expedite(svc, caller, sha256, bypass_cache=bypass_cache, request_id=request_id(request))
    return JSON(done, headers={"x-azul-security": svc.policy.display(None)})
