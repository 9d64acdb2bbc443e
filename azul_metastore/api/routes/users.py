"""Who am I: azul-restapi-server's ``/api/v0/users/me`` and the metastore's ``/users/me/opensearch``.

Both answer without Azul's envelope, as azul-client reads them (``UserInfo`` and ``UserAccess`` from
azul-bedrock). Their fields are exactly the bedrock models' fields: the compatibility tests validate
these answers with the real models.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from azul_metastore.api.auth import CallerIdentity, UnfilteredAccess
from azul_metastore.api.envelope import bare
from azul_metastore.api.responses import JSON
from azul_metastore.security import Identity

router = APIRouter(tags=["users"])


def user_info(caller: Identity) -> dict[str, Any]:
    """bedrock's ``UserInfo``.

    ``unique_id`` is the token's ``sub`` claim when it has one (Azul documents it so for OIDC, and it
    survives a change of roles), else the identity's stable id. ``api_access`` is ``["all"]``: this
    server does not restrict users to parts of the API. ``credentials`` is never echoed: a response
    body is no place for a bearer token.
    """
    claims = dict(caller.claims)
    sub = claims.get("sub")
    org = claims.get("org")
    return {
        "username": caller.username,
        "org": org if isinstance(org, str) and org else "unknown",
        "roles": list(caller.roles),
        "api_access": ["all"],
        "email": caller.email or None,
        "credentials": None,
        "decoded": claims or None,
        "unique_id": sub if isinstance(sub, str) and sub else caller.unique_id,
    }


@router.get("/users/me")
def read_me(caller: CallerIdentity) -> Response:
    """The caller as the token describes them; needs only a valid token (no minimum access)."""
    return JSON(user_info(caller))


@router.get("/users/me/opensearch")
def read_my_access(caller: UnfilteredAccess) -> Response:
    """The caller's labels and max access (``UserAccess``), ignoring any ``x``/``i`` filter."""
    return bare(caller.user_access(), caller)
