"""The metastore's exceptions: one shallow hierarchy, mapped to HTTP in ``api/errors.py`` and to
exit codes in ``cli.py``.

::

    MetastoreError                  500 / exit 1   something we did not expect
    ├── ConfigError                 exit 2         settings invalid; start-up stops
    ├── InvalidInput                422 / exit 2   input has the wrong shape or value
    │   ├── BadRequest              400            input well-formed but not acceptable here
    │   ├── InvalidQuery            400            query language parse/compile error (with column)
    │   ├── InvalidSecurity         422            security string not valid or not assignable
    │   ├── UnsupportedContent      422            archive/neutering problems (bombs, traversal...)
    │   └── PayloadTooLarge         413            over a configured size limit
    ├── NotAuthenticated            401            no/invalid credentials, or below minimum access
    ├── Forbidden                   403            authenticated, but the action needs more (admin)
    ├── NotFound                    404 / exit 3   absent, or present but not visible to the caller
    ├── Conflict                    409            state does not allow it
    ├── ReadOnly                    423            the server runs in read-only mode
    └── BackendUnavailable          503 / exit 4   a backend (index, blob store, event log) failed

Every error carries a human message that says what was wrong and what would be accepted, and an
optional ``parameters`` mapping (e.g. ``{"index": 3, "field": "source.path"}``) that the API echoes.
Adapters translate library exceptions into these at their edge, chaining the original with ``from``.
"""

from __future__ import annotations

from typing import Any


class MetastoreError(Exception):
    """Base of every error the metastore raises on purpose."""

    status_code = 500
    exit_code = 1

    def __init__(self, message: str, **parameters: Any) -> None:
        super().__init__(message)
        self.message = message
        self.parameters = parameters

    def __str__(self) -> str:
        return self.message


class ConfigError(MetastoreError):
    exit_code = 2


class InvalidInput(MetastoreError):
    status_code = 422
    exit_code = 2


class BadRequest(InvalidInput):
    status_code = 400


class InvalidQuery(BadRequest):
    """A search term that does not parse; ``column`` (1-based) says where."""

    def __init__(self, message: str, column: int | None = None, **parameters: Any) -> None:
        super().__init__(message, column=column, **parameters)
        self.column = column


class InvalidSecurity(InvalidInput):
    pass


class UnsupportedContent(InvalidInput):
    pass


class PayloadTooLarge(InvalidInput):
    status_code = 413


class NotAuthenticated(MetastoreError):
    status_code = 401
    exit_code = 2


class Forbidden(MetastoreError):
    status_code = 403
    exit_code = 2


class NotFound(MetastoreError):
    status_code = 404
    exit_code = 3


class Conflict(MetastoreError):
    """Another run holds what this one needs (a purge or age-off already running)."""

    status_code = 409
    exit_code = 5


class ReadOnly(MetastoreError):
    status_code = 423


class BackendUnavailable(MetastoreError):
    status_code = 503
    exit_code = 4
