"""Feature routes (``/api/v0/features...``, inventory §2.5): parse, call ``search.features``,
envelope. Feature-value tag writes (POST/DELETE ``/features/tags/{tag}``) live with the other tag
writes; this router only reads.

azul-client always sends ``author=`` and ``author_version=`` (empty meaning any) and ``{"after": ""}``
on a first page; empty values are treated as absent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.search import features
from azul_metastore.search.models_features import (
    FeatureNames,
    FeaturePartItems,
    FeatureValueItems,
    PageAfter,
    PivotBody,
)

router = APIRouter(tags=["features"])

Svc = Annotated[Services, Depends(services)]
AuthorQ = Annotated[str | None, Query(description="only results of this plugin (empty: any)")]
VersionQ = Annotated[str | None, Query(description="only results of this plugin version (empty: any)")]
SkipQ = Annotated[bool, Query(description="accepted for compatibility; counts are always computed")]


def _dump(mapping: dict) -> dict:
    return {k: v.model_dump(mode="json") if hasattr(v, "model_dump") else _dump(v) for k, v in mapping.items()}


@router.post("/features/values/counts")
def count_values(svc: Svc, caller: CallerAccess, body: FeatureNames, skip_count: SkipQ = False,
                 author: AuthorQ = None, author_version: VersionQ = None) -> JSON:
    """Distinct values of each named feature."""
    found = features.count_values(svc.index, body.items, caller, author=author or None,
                                  author_version=author_version or None)
    return enveloped(_dump(found), caller)


@router.post("/features/entities/counts")
def count_entities(svc: Svc, caller: CallerAccess, body: FeatureNames, skip_count: SkipQ = False,
                   author: AuthorQ = None, author_version: VersionQ = None) -> JSON:
    """Distinct binaries having each named feature."""
    found = features.count_entities(svc.index, body.items, caller, author=author or None,
                                    author_version=author_version or None)
    return enveloped(_dump(found), caller)


@router.post("/features/values/entities/counts")
def count_value_entities(svc: Svc, caller: CallerAccess, body: FeatureValueItems, skip_count: SkipQ = False,
                         author: AuthorQ = None, author_version: VersionQ = None) -> JSON:
    """Distinct binaries having each (feature, value): ``{name: {value: {name, value, entities}}}``."""
    found = features.count_value_entities(svc.index, body.items, caller, author=author or None,
                                          author_version=author_version or None)
    return enveloped(_dump(found), caller)


@router.post("/features/values/parts/entities/counts")
def count_part_entities(svc: Svc, caller: CallerAccess, body: FeaturePartItems, skip_count: SkipQ = False,
                        author: AuthorQ = None, author_version: VersionQ = None) -> JSON:
    """Distinct binaries whose feature values have an enriched part equal to the value:
    ``{value: {part: {value, part, entities}}}``."""
    found = features.count_part_entities(svc.index, body.items, caller, author=author or None,
                                         author_version=author_version or None)
    return enveloped(_dump(found), caller)


@router.get("/features")
def list_features(svc: Svc, caller: CallerAccess, author: AuthorQ = None, author_version: VersionQ = None) -> JSON:
    """Features declared by registered plugins, merged by name."""
    found = features.list_features(svc.index, caller, author=author or None, author_version=author_version or None)
    return enveloped(found.model_dump(mode="json"), caller)


@router.post("/features/feature/{feature}")
def feature_values(
    svc: Svc,
    caller: CallerAccess,
    feature: str,
    body: Annotated[PageAfter | None, Body()] = None,
    term: Annotated[str | None, Query(description="only values containing this text")] = None,
    sort_asc: bool = True,
    case_insensitive: bool = False,
    author: AuthorQ = None,
    author_version: VersionQ = None,
    num_values: Annotated[int, Query(ge=1, le=features.MAX_PAGE_VALUES)] = 500,
) -> JSON:
    """One page of a feature's values; pass the answer's ``after`` back for the next page."""
    found = features.feature_values(svc.index, feature, caller, term=term or None, sort_asc=sort_asc,
                                    case_insensitive=case_insensitive, author=author or None,
                                    author_version=author_version or None, num_values=num_values,
                                    after=(body.after if body else None) or None)
    return enveloped(found.model_dump(mode="json"), caller)


@router.post("/features/pivot")
def pivot(svc: Svc, caller: CallerAccess, body: PivotBody) -> JSON:
    """Feature values shared by the binaries that have every given feature value."""
    return enveloped(features.pivot(svc.index, body.feature_values, caller).model_dump(mode="json"), caller)


@router.get("/features/all/tags")
def all_tags(svc: Svc, caller: CallerAccess) -> JSON:
    """Every feature-value tag with how many feature values carry it."""
    return enveloped(features.feature_value_tags(svc.index, caller).model_dump(mode="json"), caller)


@router.get("/features/tags/{tag}")
def tag_values(svc: Svc, caller: CallerAccess, tag: str) -> JSON:
    """The feature values carrying a tag."""
    return enveloped(features.tag_values(svc.index, tag, caller).model_dump(mode="json"), caller)
