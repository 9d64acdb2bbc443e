"""Tag writes (inventory §2.1, §2.5, §4.9): tags on binaries and on feature values. Parse, call
``submissions.tags``, answer as Azul: binary tag POST and both feature-tag writes answer JSON
``null`` (azul-client parses the body of the latter), binary tag DELETE the enveloped
``AnnotationUpdated`` counts. Reads live with the binary and feature read routes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict

from azul_metastore.api.auth import CallerAccess
from azul_metastore.api.deps import services
from azul_metastore.api.envelope import bare, enveloped
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.submissions import tags
from azul_metastore.submissions.checks import check_writable

router = APIRouter(tags=["tags"])

Svc = Annotated[Services, Depends(services)]
Sha256 = Annotated[str, PathParam(pattern=r"^[a-fA-F0-9]{64}$")]
FeatureQ = Annotated[str, Query(description="the feature whose value is tagged")]
ValueQ = Annotated[str, Query(description="the tagged value")]


def writable(svc: Svc) -> None:
    check_writable(svc.settings)


class TagBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    security: str | None = None
    comment: str | None = None


Tag = Annotated[TagBody | None, Body()]


@router.post("/binaries/{sha256}/tags/{tag}", dependencies=[Depends(writable)])
def tag_binary(svc: Svc, caller: CallerAccess, sha256: Sha256, tag: str, body: Tag = None) -> JSON:
    """Tag a binary (``[a-z0-9-]``, at most 25 characters) with a security you may assign."""
    body = body or TagBody()
    tags.tag_binary(svc.index, svc.policy, caller, sha256, tag, body.security, comment=body.comment)
    return bare(None, caller)


@router.delete("/binaries/{sha256}/tags/{tag}", dependencies=[Depends(writable)])
def untag_binary(svc: Svc, caller: CallerAccess, sha256: Sha256, tag: str) -> JSON:
    """Remove a tag from a binary, for every owner."""
    return enveloped(tags.untag_binary(svc.index, caller, sha256, tag), caller)


@router.post("/features/tags/{tag}", dependencies=[Depends(writable)])
def tag_feature_value(svc: Svc, caller: CallerAccess, tag: str, feature: FeatureQ, value: ValueQ,
                      body: Tag = None) -> JSON:
    """Tag a feature value (the tag is lower-cased)."""
    body = body or TagBody()
    tags.tag_feature_value(svc.index, svc.policy, caller, feature, value, tag, body.security, comment=body.comment)
    return bare(None, caller)


@router.delete("/features/tags/{tag}", dependencies=[Depends(writable)])
def untag_feature_value(svc: Svc, caller: CallerAccess, tag: str, feature: FeatureQ, value: ValueQ) -> JSON:
    """Remove a tag from a feature value, for every owner."""
    tags.untag_feature_value(svc.index, caller, feature, value, tag)
    return bare(None, caller)
