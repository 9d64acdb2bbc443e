"""The opensearch-py client, built from settings, and the one place its exceptions become ours.

No ``opensearchpy`` exception crosses the adapter: :func:`translated` maps them (chained with
``from``) to :mod:`azul_metastore.errors`, as ``httpx`` maps ``httpcore`` errors at its edge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from opensearchpy import JSONSerializer, OpenSearch
from opensearchpy import exceptions as os_errors

from azul_metastore.errors import (
    BackendUnavailable,
    BadRequest,
    Forbidden,
    InvalidQuery,
    MetastoreError,
    NotAuthenticated,
)
from azul_metastore.index.opensearch.connection import StdlibConnection
from azul_metastore.settings import Settings

#: seconds a request may take (bulk writes and delete-by-query included), as Azul's 120 s
TIMEOUT = 120
#: connections kept open to the node: the API's request threads share one client, and urllib3's
#: default of one made each concurrent request open a connection, then close it with a warning
#: ("Connection pool is full, discarding connection") in the log
KEPT_CONNECTIONS = 32


class _Answers(JSONSerializer):
    """Answers parsed with orjson, several times faster than the standard library on the large
    ones (scroll pages, bulk results); requests are still written by opensearch-py."""

    def loads(self, s: str) -> Any:
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError as exc:
            raise os_errors.SerializationError(s, exc) from exc


# opensearch-py logs every request at INFO: a line per bulk and per search would bury the
# metastore's own log; failures still come through as warnings
logging.getLogger("opensearch").setLevel(logging.WARNING)


def new_client(url: str, username: str | None = None, password: str | None = None, *,
               verify_certs: bool = True, headers: dict[str, str] | None = None,
               compress_answers: bool = False) -> OpenSearch:
    """A client for one node URL; basic auth when a username and password are given. Requests go
    over ``connection.StdlibConnection`` (kept-alive ``http.client`` sockets, not urllib3's).

    Neither requests nor answers are compressed unless ``compress_answers`` asks for gzipped
    answers (a node across a slow link). Compressing costs the CPU that searches need, and on a
    LAN saves less time than it takes: opensearch-py gzips a request body at level 9, which cost the
    ingestor a quarter of its time per bulk (2.5 s per 10,000 events); gzipped answers made a small
    search 0.5 ms slower and a 5,000-hit page 10-15 ms slower (41-48 ms against 31-33) on one node.
    """
    auth = (username, password) if username and password else None
    encoding = {"accept-encoding": "gzip,deflate"} if compress_answers else {}
    return OpenSearch(hosts=[url], http_auth=auth, verify_certs=verify_certs, ssl_show_warn=verify_certs,
                      timeout=TIMEOUT, http_compress=False, serializer=_Answers(), pool_maxsize=KEPT_CONNECTIONS,
                      connection_class=StdlibConnection,
                      headers={**encoding, **(headers or {})})


def client_from_settings(settings: Settings, *, admin: bool = False) -> OpenSearch:
    """The writer client (``opensearch_username``) or, with ``admin``, the security-admin client."""
    if admin:
        user, secret = settings.opensearch_admin_username, settings.opensearch_admin_password
    else:
        user, secret = settings.opensearch_username, settings.opensearch_password
    return new_client(settings.opensearch_url, user, secret.get_secret_value(),
                      verify_certs=settings.certificate_verification,
                      compress_answers=settings.opensearch_compress_answers)


def _reason(exc: os_errors.TransportError) -> str:
    info = exc.info if isinstance(exc.info, dict) else {}
    error = info.get("error")
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return "; ".join(f"{c.get('type')}: {c.get('reason')}" for c in causes if isinstance(c, dict))
    return str(exc.error)


#: what OpenSearch says of a query past ``indices.query.bool.max_clause_count`` (1,024 by default):
#: 400 while it builds the query, 500 when a prefix expands past it as the query runs
_TOO_MANY_CLAUSES = "maxClauseCount"


def _too_complex(exc: os_errors.TransportError) -> InvalidQuery:
    """A query past OpenSearch's clause count is the caller's to simplify (400), as on the embedded
    index; it counts a clause for each field a bare term is looked for in (up to 7 for hex)."""
    return InvalidQuery(f"the query is too complex for OpenSearch ({_reason(exc).split(';')[0]}); use fewer terms,"
                        " or longer prefixes", column=1)


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Run OpenSearch calls; turn their failures into metastore errors naming what was being done."""
    try:
        yield
    except MetastoreError:
        raise
    except os_errors.AuthenticationException as exc:
        raise NotAuthenticated(f"OpenSearch refused the credentials while {doing}: {_reason(exc)}") from exc
    except os_errors.AuthorizationException as exc:
        raise Forbidden(f"OpenSearch refused the request while {doing}: {_reason(exc)}") from exc
    except os_errors.RequestError as exc:
        if _TOO_MANY_CLAUSES in _reason(exc):
            raise _too_complex(exc) from exc
        raise BadRequest(f"OpenSearch rejected the request while {doing}: {_reason(exc)}") from exc
    except os_errors.TransportError as exc:
        if _TOO_MANY_CLAUSES in _reason(exc):
            raise _too_complex(exc) from exc
        raise BackendUnavailable(f"OpenSearch failed while {doing}: {_reason(exc)}") from exc
    except os_errors.ImproperlyConfigured as exc:
        raise BackendUnavailable(f"OpenSearch client misconfigured while {doing}: {exc}") from exc
    except os_errors.OpenSearchException as exc:
        raise BackendUnavailable(f"OpenSearch failed while {doing}: {exc}") from exc
