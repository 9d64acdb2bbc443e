"""Dispatcher-compatible stream API (``/api/v3/stream``): where plugins and the submission path put
and fetch bytes, keyed by (source, label, sha256). Thin: parse, call the blob store, format.

Uploads are read from the socket asynchronously and handed to the synchronous writer (hashing,
identification, disk) in ~1 MiB batches on a worker thread, one batch in flight while the next is
received, so an upload of any size holds a few MiB at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from azul_metastore.api.auth import ServiceIdentity, service_identity
from azul_metastore.api.deps import services
from azul_metastore.api.errors import request_id
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.content.store import StreamSink
from azul_metastore.errors import InvalidInput, NotFound
from azul_metastore.models.events import DataLabel

# Plugins and services only: an authenticated identity holding one of auth_service_roles (api/auth.py).
# Bytes carry no security of their own; users reach them through the /api/v0 content routes, which
# check that the binary is visible to the caller first.
router = APIRouter(tags=["dispatcher streams"], dependencies=[Depends(service_identity)])

Sha256 = Annotated[str, Path(pattern=r"^[a-fA-F0-9]{64}$")]
_BATCH = 1024 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, stop)`` for a single ``bytes=`` range, None for no/ignorable range (RFC 9110 §14)."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: a server may ignore Range and answer 200
    first, last = m.group(1), m.group(2)
    if not first:
        start, stop = max(size - _position(last), 0), size
    else:
        start = _position(first)
        stop = size if not last else min(_position(last) + 1, size)
    if start >= size or stop <= start:
        raise _Unsatisfiable(size)
    return start, stop


def _position(digits: str) -> int:
    """A byte position of a Range header; one past any stored size when it has more than 18 digits
    (Python's int() refuses over 4,300 digits, and no stored size has 19)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18


class _Unsatisfiable(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


@router.post("/stream/{source}/{label}")
async def post_stream(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    caller: ServiceIdentity,
    source: str,
    label: DataLabel,
    skip_identify: Annotated[bool, Query(alias="skip-identify")] = False,
    expected_sha256: Annotated[str | None, Query(alias="expected-sha256", pattern=r"^[a-fA-F0-9]{64}$")] = None,
) -> Response:
    """Store the raw request body; answer its ``Datastream`` (hashes, size, file type, label)."""
    sink = await run_in_threadpool(StreamSink, svc.blobs, source, label, identify=not skip_identify,
                                   expected_sha256=expected_sha256.lower() if expected_sha256 else None,
                                   max_bytes=svc.settings.upload_max_bytes)
    pending: asyncio.Future[None] | None = None
    batch: list[bytes] = []
    batched = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            batch.append(chunk)
            batched += len(chunk)
            if batched >= _BATCH:
                data = b"".join(batch)
                batch.clear()
                batched = 0
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(run_in_threadpool(sink.write, data))
        if pending is not None:
            await pending
            pending = None
        if batch:
            await run_in_threadpool(sink.write, b"".join(batch))
        stream = await run_in_threadpool(sink.commit)
    except BaseException:
        if pending is not None:
            with contextlib.suppress(Exception):  # the first error is the one to report
                await pending
        await run_in_threadpool(sink.abort)
        raise
    audit("stream_upload", user=caller.username, request_id=request_id(request), source=source, label=label,
          sha256=stream.sha256, size=stream.size)
    return JSON(stream.model_dump(mode="json"))


@router.head("/stream/{source}/{label}/{sha256}")
def head_stream(svc: Annotated[Services, Depends(services)], source: str, label: str, sha256: Sha256) -> Response:
    info = svc.blobs.head(source, label, sha256)
    if info is None:
        return Response(status_code=404)
    return Response(headers={"content-length": str(info.size), "accept-ranges": "bytes",
                             "last-modified": info.stored_at.strftime("%a, %d %b %Y %H:%M:%S GMT")})


@router.get("/stream/{source}/{label}/{sha256}")
def get_stream(request: Request, svc: Annotated[Services, Depends(services)], caller: ServiceIdentity, source: str,
               label: str, sha256: Sha256) -> Response:
    """The bytes; a single ``Range: bytes=a-b`` answers 206 with ``Content-Range``."""
    info = svc.blobs.head(source, label, sha256)
    if info is None:
        raise NotFound(f"no {label} stream {sha256.lower()} in source {source}")
    try:
        rng = _parse_range(request.headers.get("range"), info.size)
    except _Unsatisfiable as exc:
        return Response(status_code=416, headers={"content-range": f"bytes */{exc.size}"})
    start, stop = rng if rng else (0, info.size)
    body = svc.blobs.open_range(source, label, sha256, start, stop)
    audit("stream_download", user=caller.username, request_id=request_id(request), source=source, label=label,
          sha256=sha256.lower(), start=start, stop=stop)
    headers = {"content-length": str(stop - start), "accept-ranges": "bytes"}
    if rng is None:
        return StreamingResponse(body, media_type="application/octet-stream", headers=headers)
    headers["content-range"] = f"bytes {start}-{stop - 1}/{info.size}"
    return StreamingResponse(body, status_code=206, media_type="application/octet-stream", headers=headers)


@router.patch("/stream/{src_source}/{dst_source}/{label}/{sha256}")
def copy_stream(request: Request, svc: Annotated[Services, Depends(services)], caller: ServiceIdentity,
                src_source: str, dst_source: str, label: str, sha256: Sha256) -> Response:
    """Make bytes stored under one source available under another (no bytes are copied)."""
    info = svc.blobs.copy(src_source, dst_source, label, sha256)
    audit("stream_copy", user=caller.username, request_id=request_id(request), source=src_source,
          destination=dst_source, label=label, sha256=sha256.lower())
    return JSON({"source": dst_source, "label": label, "sha256": sha256.lower(), "size": info.size})


@router.delete("/stream/{source}/{label}/{sha256}")
def delete_stream(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    caller: ServiceIdentity,
    source: str,
    label: str,
    sha256: Sha256,
    if_older_than: Annotated[int | None, Query(alias="ifOlderThan", ge=0)] = None,
) -> Response:
    """Remove a reference; with ``ifOlderThan`` (unix seconds) only if it was stored before then."""
    try:
        cutoff = datetime.fromtimestamp(if_older_than, tz=UTC) if if_older_than is not None else None
        deleted = svc.blobs.delete(source, label, sha256, if_older_than=cutoff)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInput(f"ifOlderThan {if_older_than} is not a usable unix time") from exc
    audit("stream_delete", user=caller.username, request_id=request_id(request), source=source, label=label,
          sha256=sha256.lower(), deleted=deleted, if_older_than=if_older_than)
    return JSON({"deleted": deleted})
