"""The one place where metastore errors become HTTP responses.

Every error body has one shape, built by :func:`error_body`, so clients can rely on it::

    {"detail": {"ref": "<request id>", "internal": "<ErrorClass>", "message": "...", "parameters": {...}},
     "ref": "<request id>", "message": "..."}

The nested ``detail`` mirrors the bare Azul metastore app; the top-level ``ref``/``message`` mirror
azul-restapi-server's rewrite, so both kinds of Azul client find what they look for.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from azul_metastore.api.responses import JSON
from azul_metastore.errors import MetastoreError, NotAuthenticated

log = logging.getLogger(__name__)


def request_id(request: Request) -> str:
    """The id of this request, echoed in error bodies and audit lines."""
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def error_body(ref: str, internal: str, message: str, parameters: dict[str, Any] | None = None) -> dict:
    detail = {"ref": ref, "internal": internal, "message": message, "parameters": parameters or {}}
    return {"detail": detail, "ref": ref, "message": message}


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool | type(None) | list | dict) else str(v)
            for k, v in params.items()}


async def _metastore_error(request: Request, exc: MetastoreError) -> JSON:
    if exc.status_code >= 500:
        log.error("request %s failed: %s", request_id(request), exc, exc_info=exc)
    body = error_body(request_id(request), type(exc).__name__, exc.message, _jsonable(exc.parameters))
    return JSON(body, status_code=exc.status_code, headers=_challenge(exc))


def _challenge(exc: MetastoreError) -> dict[str, str] | None:
    """RFC 6750 §3: every 401 names the scheme to use, with why a presented token was refused."""
    if not isinstance(exc, NotAuthenticated):
        return None
    reason = exc.parameters.get("reason")
    if reason == "missing":
        return {"WWW-Authenticate": "Bearer"}
    if reason == "below_minimum_access":  # a good token, but its roles are not enough
        return {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
    return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


async def _validation_error(request: Request, exc: RequestValidationError) -> JSON:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{where}: {err.get('msg')}")
    message = "invalid request: " + "; ".join(problems)
    body = error_body(request_id(request), "RequestValidationError", message, {"errors": problems})
    return JSON(body, status_code=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSON:
    body = error_body(request_id(request), "HTTPException", str(exc.detail))
    return JSON(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSON:
    log.exception("request %s failed unexpectedly", request_id(request))
    body = error_body(request_id(request), "InternalError", "internal error; see the server log for this ref")
    return JSON(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register handlers by base class; Starlette resolves them along the exception's MRO."""
    app.add_exception_handler(MetastoreError, _metastore_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
