"""Content view routes (inventory §2.2): hex view, strings, hex search and common strings of stored
bytes. Unenveloped, as Azul answers them. 404 when the caller may not see the binary's content."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import bare
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.search import content

router = APIRouter(tags=["binaries content"])

Svc = Annotated[Services, Depends(services)]
SHA256 = r"^[a-fA-F0-9]{64}$"
Sha = Annotated[str, Path(pattern=SHA256)]
TEN_MIB = 10 * 1024 * 1024


@router.get("/binaries/{sha256}/hexview")
def hex_view(svc: Svc, caller: CallerAccess, sha256: Sha, offset: Annotated[int, Query(ge=0)] = 0,
             max_bytes_to_read: Annotated[int | None, Query(ge=0)] = None, shortform: bool = False) -> JSON:
    """16-byte hex rows from ``offset`` (at most 10 MiB per answer; page with ``next_offset``)."""
    where = content.locate(svc.index, svc.blobs, sha256, caller)
    view = content.hex_view(svc.blobs, where, offset=offset, max_bytes_to_read=max_bytes_to_read,
                            shortform=shortform)
    return bare(view.model_dump(mode="json"), caller)


@router.get("/binaries/{sha256}/strings")
def strings(
    svc: Svc,
    caller: CallerAccess,
    sha256: Sha,
    min_length: Annotated[int, Query(ge=1)] = 4,
    max_length: Annotated[int, Query(ge=1)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
    max_bytes_to_read: Annotated[int, Query(ge=0)] = TEN_MIB,
    take_n_strings: Annotated[int, Query(ge=0)] = 1000,
    filter: Annotated[str | None, Query(description="only strings containing this (any case)")] = None,
    regex: Annotated[str | None, Query(description="only strings matching this regular expression")] = None,
    file_format: Annotated[str | None, Query(description="accepted; the AI string filter is not offered")] = None,
) -> JSON:
    """ASCII and UTF-16 strings from ``offset``; strings over ``max_length`` are truncated, not dropped
    (``length`` keeps the real length)."""
    where = content.locate(svc.index, svc.blobs, sha256, caller)
    found = content.strings(svc.blobs, where, min_length=min_length, max_length=max_length, offset=offset,
                            max_bytes_to_read=max_bytes_to_read, take_n_strings=take_n_strings, filter=filter,
                            regex=regex)
    return bare(found.model_dump(mode="json"), caller)


@router.get("/binaries/{sha256}/search/hex")
def search_hex(
    svc: Svc,
    caller: CallerAccess,
    sha256: Sha,
    filter: Annotated[str, Query(description="bytes to find, in hex (optional 0x)")],
    offset: Annotated[int, Query(ge=0)] = 0,
    max_bytes_to_read: Annotated[int | None, Query(ge=0)] = None,
    take_n_hits: Annotated[int, Query(ge=0)] = 1000,
) -> JSON:
    """Offsets of a byte pattern, as strings with encoding ``hex``."""
    where = content.locate(svc.index, svc.blobs, sha256, caller)
    found = content.search_hex(svc.blobs, where, filter, offset=offset, max_bytes_to_read=max_bytes_to_read,
                               take_n_hits=take_n_hits)
    return bare(found.model_dump(mode="json"), caller)


@router.get("/binaries/{sha256A}/{sha256B}/strings")
def common_strings(
    svc: Svc,
    caller: CallerAccess,
    sha256A: Annotated[str, Path(pattern=SHA256)],
    sha256B: Annotated[str, Path(pattern=SHA256)],
    min_length: Annotated[int, Query(ge=1)] = 4,
    max_length: Annotated[int, Query(ge=1)] = 200,
    max_bytes_to_read: Annotated[int, Query(ge=0)] = TEN_MIB,
    take_n_strings: Annotated[int, Query(ge=0)] = 5000,
) -> JSON:
    """Distinct strings both binaries contain, sorted."""
    a = content.locate(svc.index, svc.blobs, sha256A, caller)
    b = content.locate(svc.index, svc.blobs, sha256B, caller)
    found = content.common_strings(svc.blobs, a, b, min_length=min_length, max_length=max_length,
                                   max_bytes_to_read=max_bytes_to_read, take_n_strings=take_n_strings)
    return bare(found.model_dump(mode="json"), caller)
