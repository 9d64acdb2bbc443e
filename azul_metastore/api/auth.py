"""Authentication and access for routes: every route depends on one of these.

How a route asks for the caller::

    @router.get("/binaries/{sha256}")
    def read(svc: Annotated[Services, Depends(services)], caller: CallerAccess, sha256: str): ...
    # caller: Access with the request's x/i filters; pass it to every index read

    @router.delete("/purge/link/{track_link}")
    def purge(caller: AdminAccess, ...): ...          # 403 unless the caller holds an admin role

* :func:`identity` - who is asking: the ``Authorization`` header through the
  :class:`~azul_metastore.security.Authenticator` (open mode accepts ``Bearer none`` or nothing).
  401 with ``WWW-Authenticate: Bearer`` on any failure; the failure is audited with the request id.
* :func:`access` - what they may read: :meth:`Access.for_user` with the repeated ``x`` (labels to
  hide) and ``i`` (RELs every result must carry) query filters. 401 when the caller lacks
  ``security_minimum_required_access`` (as Azul), 422 for an unknown label in ``x``/``i``.
* :func:`unfiltered_access` - the same without ``x``/``i`` (Azul's ``/users/me/opensearch``).
* :func:`admin_access` - :func:`access`, and 403 unless the caller holds a ``security_admin_roles`` role.
* :func:`service_identity` - the dispatcher-side event and stream APIs (``/api/v2``, ``/api/v3``):
  an authenticated identity holding one of ``auth_service_roles`` (default ``admin``, ``plugin``),
  else 403. These APIs move raw events and bytes for plugins and the submission path, so they are
  gated by role, not by labels: a plugin's token need not carry any label, and the bytes and events
  they move are filtered by security where users read them (the ``/api/v0`` routes).

Access is cached for :data:`ACCESS_TTL_SECONDS` (60 s, as Azul caches its user access) per
(identity, x, i): building it is cheap but the event and search paths run it on every request. The
key holds the identity's username and roles, so a token with other roles is never served a stale
entry; the TTL only bounds how long entries for departed callers are kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Query, Request

from azul_metastore.api.deps import services
from azul_metastore.api.errors import request_id
from azul_metastore.errors import Forbidden
from azul_metastore.security import Access, Identity

__all__ = [
    "ACCESS_TTL_SECONDS",
    "AccessCache",
    "AdminAccess",
    "CallerAccess",
    "CallerIdentity",
    "ServiceIdentity",
    "UnfilteredAccess",
    "access",
    "admin_access",
    "identity",
    "service_identity",
    "unfiltered_access",
]

ACCESS_TTL_SECONDS = 60.0
_MAX_ENTRIES = 10_000

_Key = tuple[str, tuple[str, ...], tuple[str, ...]]


class AccessCache:
    """Access per (identity, x, i), each kept ``ttl`` seconds; thread-safe, bounded in size."""

    def __init__(self, ttl: float = ACCESS_TTL_SECONDS, max_entries: int = _MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[_Key, tuple[float, Access]] = {}

    def get(self, key: _Key, build: Callable[[], Access]) -> Access:
        """The cached access for ``key``, or ``build()``'s (errors it raises are not cached)."""
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = build()
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (now + self._ttl, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)


_cache_lock = threading.Lock()


def access_cache(request: Request) -> AccessCache:
    """The app's access cache, made on first use (one per app, so tests' servers never share)."""
    state = request.app.state
    cache = getattr(state, "access_cache", None)
    if cache is None:
        with _cache_lock:
            cache = getattr(state, "access_cache", None)
            if cache is None:
                cache = state.access_cache = AccessCache()
    return cache


def identity(request: Request) -> Identity:
    """The authenticated caller; NotAuthenticated (401, audited with the request id) otherwise."""
    svc = services(request)
    caller = svc.authenticator.authenticate(
        request.headers.get("authorization"),
        request_id=request_id(request),
        remote=request.client.host if request.client else "",
    )
    request.state.identity = caller
    return caller


CallerIdentity = Annotated[Identity, Depends(identity)]

_X = Query(description="security labels to exclude: results carrying any of them are hidden (repeatable)")
_I = Query(description="releasability labels every result must carry (repeatable)")


def _access_for(request: Request, caller: Identity, x: list[str], i: list[str]) -> Access:
    policy = services(request).policy
    key = (caller.unique_id, tuple(x), tuple(i))

    def build() -> Access:
        return Access.for_user(policy, caller.username, caller.roles, exclude=x, include=i)

    found = access_cache(request).get(key, build)
    request.state.access = found
    return found


def access(
    request: Request,
    caller: CallerIdentity,
    x: Annotated[list[str], _X] = [],
    i: Annotated[list[str], _I] = [],
) -> Access:
    """The caller's access with the request's ``x``/``i`` filters (401 below minimum access, 422 bad label)."""
    return _access_for(request, caller, x, i)


def unfiltered_access(request: Request, caller: CallerIdentity) -> Access:
    """The caller's access ignoring ``x``/``i`` (azul-client sends ``x`` everywhere once set)."""
    return _access_for(request, caller, [], [])


def admin_access(caller: Annotated[Access, Depends(access)]) -> Access:
    """:func:`access` for admin-only routes (purge): 403 Forbidden unless the caller is an admin."""
    if not caller.admin:
        raise Forbidden(
            f"user {caller.username!r} may not do this: it needs an admin role "
            f"(one of {', '.join(sorted(caller.policy.admin_roles)) if caller.policy else 'admin'})"
        )
    return caller


def service_identity(request: Request, caller: CallerIdentity) -> Identity:
    """The caller of a dispatcher-side API: 403 unless they hold one of ``auth_service_roles``."""
    allowed = services(request).settings.auth_service_roles
    if allowed and not set(caller.roles) & set(allowed):
        raise Forbidden(
            f"user {caller.username!r} may not use the dispatcher event and stream APIs: "
            f"they need one of the roles {', '.join(allowed)} (METASTORE_AUTH_SERVICE_ROLES)"
        )
    return caller


CallerAccess = Annotated[Access, Depends(access)]
UnfilteredAccess = Annotated[Access, Depends(unfiltered_access)]
AdminAccess = Annotated[Access, Depends(admin_access)]
ServiceIdentity = Annotated[Identity, Depends(service_identity)]
