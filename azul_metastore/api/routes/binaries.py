"""Binary read routes (``/api/v0/binaries...``, inventory §2.1): parse, call one ``search`` function,
envelope. Every route passes the caller's access (with its ``x``/``i`` filters) to the service.

Static paths (``/binaries/model``, ``/all``, ``/similar/...``) are declared before
``/binaries/{sha256}`` so they are never read as a hash. Content views, submissions and tag writes
live in their own routers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.errors import InvalidInput
from azul_metastore.search import binary_statuses, entity_tags, find, lineage, similarity, summary

router = APIRouter(tags=["binaries"])

Svc = Annotated[Services, Depends(services)]
Sha256 = Annotated[str, Path(pattern="^[a-fA-F0-9]{64}$", description="the binary's sha256")]
TermQ = Annotated[str | None, Query(description="search query (see GET /binaries/model for fields)")]
Sort = Literal["_score", "source.timestamp", "timestamp"]


class HashesBody(BaseModel):
    """Hashes to look up (md5, sha1, sha256, sha512 or ssdeep), answered in the order given."""

    model_config = ConfigDict(extra="ignore")
    hashes: list[str] = []


class AfterBody(BaseModel):
    """The ``after`` of the previous page; null or absent for the first page."""

    model_config = ConfigDict(extra="ignore")
    after: str | None = None


def _dump(model: BaseModel) -> dict:
    return model.model_dump(mode="json")


def _find(svc: Services, caller, term, hashes, sort, sort_asc, max_entities, count_entities) -> JSON:
    found = find.find(svc.index, caller, term=term or None, hashes=hashes, sort=sort, sort_asc=sort_asc,
                      max_entities=max_entities, count_entities=count_entities)
    return enveloped(found.model_dump(mode="json", exclude_none=True), caller)


@router.get("/binaries")
def find_get(svc: Svc, caller: CallerAccess, term: TermQ = None, sort: Sort = "_score", sort_asc: bool = False,
             max_entities: int = 100, count_entities: bool = False) -> JSON:
    """Binaries matching a search term."""
    return _find(svc, caller, term, [], sort, sort_asc, max_entities, count_entities)


@router.post("/binaries")
def find_post(svc: Svc, caller: CallerAccess, body: Annotated[HashesBody | None, Body()] = None,
              term: TermQ = None, sort: Sort = "_score", sort_asc: bool = False, max_entities: int = 100,
              count_entities: bool = False) -> JSON:
    """Binaries matching a search term and/or any of the given hashes (answered in the hashes' order)."""
    return _find(svc, caller, term, body.hashes if body else [], sort, sort_asc, max_entities, count_entities)


@router.post("/binaries/all")
def find_all(svc: Svc, caller: CallerAccess, body: Annotated[AfterBody | None, Body()] = None, term: TermQ = None,
             num_binaries: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> JSON:
    """One page of every matching binary, in sha256 order; pass ``after`` back for the next page."""
    page = find.find_all(svc.index, caller, term=term or None, after=body.after if body else None,
                         num_binaries=num_binaries)
    return enveloped(_dump(page), caller)


@router.post("/binaries/all/parents")
def all_parents(svc: Svc, caller: CallerAccess, family_sha256: Annotated[str, Query(pattern="^[a-fA-F0-9]{64}$")],
                body: Annotated[AfterBody | None, Body()] = None) -> JSON:
    """One page (50) of a binary's parents."""
    page = find.find_family(svc.index, family_sha256, caller, "parents", body.after if body else None)
    return enveloped(_dump(page), caller)


@router.post("/binaries/all/children")
def all_children(svc: Svc, caller: CallerAccess, family_sha256: Annotated[str, Query(pattern="^[a-fA-F0-9]{64}$")],
                 body: Annotated[AfterBody | None, Body()] = None) -> JSON:
    """One page (50) of a binary's children."""
    page = find.find_family(svc.index, family_sha256, caller, "children", body.after if body else None)
    return enveloped(_dump(page), caller)


@router.get("/binaries/model")
def model(svc: Svc, caller: CallerAccess) -> JSON:
    """The searchable fields and their types."""
    return enveloped(_dump(find.model(svc.index, caller)), caller)


@router.get("/binaries/autocomplete")
def autocomplete(caller: CallerAccess, term: str = "", offset: int = -1) -> JSON:
    """What the caret at ``offset`` in ``term`` is on, for search-box suggestions."""
    return enveloped(find.complete(term, offset), caller)


@router.get("/binaries/tags")
def all_tags(svc: Svc, caller: CallerAccess) -> JSON:
    """Every entity tag in use, with how many binaries carry it."""
    return enveloped(_dump(entity_tags.all_tags(svc.index, caller)), caller)


@router.get("/binaries/similar/tlsh")
def similar_tlsh(svc: Svc, caller: CallerAccess, tlsh: str,
                 max_matches: Annotated[int, Query(ge=1, le=1000)] = 20) -> JSON:
    """Nearest binaries by TLSH distance (``score`` is the distance: lower is closer)."""
    return enveloped(_dump(similarity.similar_tlsh(svc.index, tlsh, caller, max_matches)), caller)


@router.get("/binaries/similar/ssdeep")
def similar_ssdeep(svc: Svc, caller: CallerAccess, ssdeep: str,
                   max_matches: Annotated[int, Query(ge=1, le=1000)] = 20) -> JSON:
    """Most similar binaries by ssdeep score (0-100, higher is closer)."""
    return enveloped(_dump(similarity.similar_ssdeep(svc.index, ssdeep, caller, max_matches)), caller)


@router.head("/binaries/{sha256}")
def exists(svc: Svc, caller: CallerAccess, sha256: Sha256) -> Response:
    """200 when the caller can see any document of the binary, else 404."""
    return Response(status_code=200 if svc.index.visible_binaries([sha256.lower()], caller) else 404)


@router.get("/binaries/{sha256}")
def read(svc: Svc, caller: CallerAccess, sha256: Sha256,
         detail: Annotated[list[str], Query(description="sections to include (empty: all)")] = [],
         author: Annotated[str | None, Query(description="only this plugin's documents")] = None,
         bucket_size: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSON:
    """Everything the caller may see about one binary."""
    unknown = sorted(set(detail) - summary.DETAILS)
    if unknown:
        raise InvalidInput(f"unknown detail {', '.join(unknown)}; choose from {', '.join(sorted(summary.DETAILS))}")
    found = summary.summary(svc.index, sha256, caller, details=detail, author=author or None,
                            bucket_size=bucket_size, warn_on_event_count=svc.settings.warn_on_event_count)
    return enveloped(_dump(found), caller)


@router.get("/binaries/{sha256}/new")
def has_newer(svc: Svc, caller: CallerAccess, sha256: Sha256, timestamp: str) -> JSON:
    """How many documents of the binary are newer than ``timestamp``."""
    return enveloped(_dump(summary.has_newer(svc.index, sha256, caller, timestamp)), caller)


@router.get("/binaries/{sha256}/events")
def events(svc: Svc, caller: CallerAccess, sha256: Sha256, event_type: str | None = None,
           size: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> JSON:
    """The binary's documents as stored, newest first."""
    found = summary.documents(svc.index, sha256, caller, event_type=event_type or None, size=size)
    return enveloped(_dump(found), caller)


@router.get("/binaries/{sha256}/statuses")
def statuses(svc: Svc, caller: CallerAccess, sha256: Sha256) -> JSON:
    """Each plugin's newest status about the binary."""
    return enveloped(_dump(binary_statuses.binary_statuses(svc.index, sha256, caller, dispatch=svc.dispatch)), caller)


@router.get("/binaries/{sha256}/nearby")
def nearby(svc: Svc, caller: CallerAccess, sha256: Sha256,
           include_cousins: Literal["no", "yes_small", "yes", "yes_large"] = "yes") -> JSON:
    """Parent, child and source links around the binary."""
    return enveloped(_dump(lineage.nearby(svc.index, sha256, caller, include_cousins)), caller)


@router.post("/binaries/{sha256}/similar/entropy")
def similar_entropy(svc: Svc, caller: CallerAccess, sha256: Sha256, blocks: Annotated[list[float], Body()],
                    max_matches: Annotated[int, Query(ge=1, le=1000)] = 20) -> JSON:
    """Binaries with a similar entropy graph (the body is the graph's blocks, a bare JSON array)."""
    return enveloped(_dump(similarity.similar_entropy(svc.index, sha256, blocks, caller, max_matches)), caller)


@router.get("/binaries/{sha256}/similar/features")
def similar_features(svc: Svc, caller: CallerAccess, sha256: Sha256, recalculate: bool = False) -> JSON:
    """Binaries sharing feature values with this one (computed now, so always ``complete``)."""
    return enveloped(_dump(similarity.similar_features(svc.index, sha256, caller)), caller)


@router.get("/binaries/{sha256}/tags")
def binary_tags(svc: Svc, caller: CallerAccess, sha256: Sha256) -> JSON:
    """The binary's tags."""
    return enveloped(_dump(entity_tags.binary_tags(svc.index, sha256, caller)), caller)
