"""Security settings and helpers that azul-client calls (``azul security``): the label configuration,
normalising and combining security strings, and whether the caller is an admin.

These are azul-restapi-server routes, so their paths carry the version themselves
(``/api/v0/security``, ``/api/v1/security/normalise``...). Answers are bare JSON (an object, a
string, a bool), and invalid security strings answer 400 as the reference does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from azul_metastore.api.auth import CallerIdentity
from azul_metastore.api.deps import services
from azul_metastore.api.responses import JSON
from azul_metastore.app import Services
from azul_metastore.errors import BadRequest, InvalidSecurity
from azul_metastore.settings import Settings

router = APIRouter(tags=["security"])


class SecurityBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    security: str


def security_settings(settings: Settings, svc: Services) -> dict[str, Any]:
    """The label configuration as azul-security publishes it (``GET /api/v0/security``).

    Options carry only the keys that mean something for their group (a TLP's ``enforce_security``,
    a caveat's priority range); presets and the default are normalised.
    """
    labels = settings.security_labels
    policy = svc.policy

    def options(group: Any, *extra: str) -> list[dict[str, Any]]:
        keys = ("name", "priority", *extra)
        return [{k: v for k, v in o.model_dump().items() if k in keys and v is not None} for o in group.options]

    rel = labels.releasability
    return {
        "labels": {
            "classification": {"options": options(labels.classification)},
            "caveat": {"options": options(labels.caveat, "min_priority", "max_priority")},
            "releasability": {"options": options(rel), "origin": rel.origin, "origin_alt_name": rel.origin_alt_name,
                              "prefix": rel.prefix},
            "tlp": {"options": options(labels.tlp, "enforce_security")},
        },
        "admin_roles": list(settings.security_admin_roles),
        "default": policy.default,
        "presets": list(policy.presets),
        "allow_releasability_priority_gte": settings.security_allow_releasability_priority_gte,
        "minimum_required_access": [policy.label(x) or x for x in settings.security_minimum_required_access],
    }


def _require(securities: list[str]) -> None:
    # The policy reads a blank string as "the default"; here a blank is a mistake worth reporting.
    if not securities or any(not s.strip() for s in securities):
        raise BadRequest("give at least one security string, none of them blank")


@router.get("/v0/security")
def read_security_settings(svc: Annotated[Services, Depends(services)], caller: CallerIdentity) -> Response:
    return JSON(security_settings(svc.settings, svc))


@router.get("/v0/security/is_admin")
def read_is_admin(svc: Annotated[Services, Depends(services)], caller: CallerIdentity) -> Response:
    """Whether the caller holds one of ``security_admin_roles`` (bare JSON bool)."""
    return JSON(bool(svc.policy.admin_roles & set(caller.roles)))


@router.post("/v1/security/normalise")
def normalise(svc: Annotated[Services, Depends(services)], caller: CallerIdentity, body: SecurityBody) -> Response:
    """The canonical form of one security string (bare JSON string); 400 if it is not valid."""
    _require([body.security])
    try:
        return JSON(svc.policy.normalise(body.security))
    except InvalidSecurity as exc:
        raise BadRequest(exc.message, **exc.parameters) from exc


@router.post("/v1/security/max")
def combine(svc: Annotated[Services, Depends(services)], caller: CallerIdentity,
            securities: Annotated[list[str], Body()]) -> Response:
    """The security of something made from all of these (highest classification, every caveat, the
    common releasabilities): a bare JSON string; 400 if any is invalid or they share no REL."""
    _require(securities)
    try:
        return JSON(svc.policy.combine(securities))
    except InvalidSecurity as exc:
        raise BadRequest(exc.message, **exc.parameters) from exc
