"""Content routes (``/api/v0/binaries/.../content...``, inventory §2.2) and external download
requests (``/api/v0/binaries/source/download...``, §2.4): parse, call ``submissions.download`` or
``submissions.external``, stream the answer.

The download format is the ``format`` query parameter: ``cart`` (default, so azul-client's
parameterless GET gets CaRT as from Azul), ``malpz``, ``zip`` (AES-256, password
``download_zip_password``) or ``plain`` (only with ``download_allow_plain``). Bulk downloads default
to ``zip``. Any other value is a 422 listing these.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.errors import request_id
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.content.neuter import DownloadFormat, NeuteredDownload
from azul_metastore.submissions import download, external
from azul_metastore.submissions.checks import check_writable

router = APIRouter(tags=["binaries content"])

Svc = Annotated[Services, Depends(services)]
Sha256 = Annotated[str, PathParam(pattern=r"^[a-fA-F0-9]{64}$")]
_FORMAT_HELP = "cart (default), malpz, zip (AES-256 with the server's password) or plain (if the server allows)"
FormatQ = Annotated[DownloadFormat, Query(alias="format", description=_FORMAT_HELP)]
#: a browser must never sniff a served file into something it would run
_SAFE = {"x-content-type-options": "nosniff", "content-security-policy": "sandbox"}


def _attachment(name: str, result: NeuteredDownload, length: int | None = None) -> StreamingResponse:
    headers = {"content-disposition": f'attachment; filename="{name}{result.suffix}"', **_SAFE}
    if length is not None:
        headers["content-length"] = str(length)
    return StreamingResponse(result.chunks, media_type=result.media_type, headers=headers)


@router.head("/binaries/{sha256}/content")
def content_exists(svc: Svc, caller: CallerAccess, sha256: Sha256) -> Response:
    """200 when bytes with this sha256 are stored and a document you can see holds them, else 404."""
    return Response(status_code=200 if download.content_exists(svc, caller, sha256) else 404)


@router.get("/binaries/{sha256}/content")
def download_content(request: Request, svc: Svc, caller: CallerAccess, sha256: Sha256,
                     fmt: FormatQ = DownloadFormat.cart) -> StreamingResponse:
    """The bytes of a binary (or any datastream), neutered in the chosen format."""
    result = download.download_binary(svc, caller, sha256, fmt, request_id(request))
    return _attachment(sha256.lower(), result)


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    binaries: list[str]


@router.post("/binaries/content/bulk")
def download_bulk(request: Request, svc: Svc, caller: CallerAccess, body: BulkBody,
                  fmt: Annotated[DownloadFormat, Query(alias="format", description="zip (default: AES-256), "
                                                       "cart or malpz (a ZIP of those) or plain")] = DownloadFormat.zip
                  ) -> StreamingResponse:
    """One ZIP of the binaries you can see among ``binaries`` (the others are skipped)."""
    result = download.download_bulk(svc, caller, body.binaries, fmt, request_id(request))
    return _attachment("binaries", result)


@router.get("/binaries/{sha256}/content/{stream}")
def download_stream(request: Request, svc: Svc, caller: CallerAccess, sha256: Sha256,
                    stream: Sha256) -> StreamingResponse:
    """A stream of the binary (a report, a screenshot, decompiled code...) served raw, when its type
    is safe to show (text as ``text/plain``, PDFs, PCAPs and raster images); 400 otherwise."""
    found = download.download_stream(svc, caller, sha256, stream, request_id(request))
    return StreamingResponse(found.chunks, media_type=found.media_type,
                             headers={"content-length": str(found.size), **_SAFE})


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sha256: Annotated[str, Field(pattern=r"^[a-fA-F0-9]{64}$")]
    security: str = ""
    source_id: str
    references: dict[str, str] = {}
    settings: dict[str, str] = {}


@router.post("/binaries/source/download")
async def request_download(request: Request, svc: Svc, caller: CallerAccess,
                           body: Annotated[DownloadRequest, Body()]) -> JSON:
    """Ask the download plugins to fetch a binary from an external service."""
    check_writable(svc.settings)
    found = await run_in_threadpool(external.request_download, svc, caller, sha256=body.sha256,
                                    source_id=body.source_id, security=body.security, references=body.references,
                                    settings=body.settings, request_id=request_id(request))
    return enveloped(found, caller, security=svc.policy.display(found["last_download_security"]))


@router.get("/binaries/source/download/{sha256}")
def download_progress(svc: Svc, caller: CallerAccess, sha256: Sha256,
                      include_download_requests: bool = False) -> JSON:
    """What the download plugins did about a binary (404 when it has no status at all)."""
    found = external.download_statuses(svc, caller, sha256, include_download_requests=include_download_requests)
    return enveloped(found, caller)
