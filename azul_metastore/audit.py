"""The audit trail: who uploaded, downloaded, deleted or purged what, one line per action.

Lines go to the ``azul_metastore.audit`` logger (the one authentication failures use), so a deployment
routes them with ordinary logging configuration; ``serve`` also writes them to a daily-rotated file when
``audit_log_file_path`` is set (see :func:`azul_metastore.server.configure_logging`). Each line is
``event="..." user="..." request_id="..." key="value" ...`` - greppable, and parseable by Loki's
``logfmt`` - and the same fields ride on the record as ``record.audit`` for structured handlers.

Call :func:`audit` after the action succeeded (a refused request is logged by the authenticator or
carries its error). Never pass credentials or file contents as fields.
"""

from __future__ import annotations

import logging
from typing import Any

from azul_metastore.security import AUDIT_LOGGER

__all__ = ["AUDIT_LOGGER", "audit"]

_log = logging.getLogger(AUDIT_LOGGER)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


def _quote(value: str) -> str:
    # One record is one line: a newline inside a field (a crafted filename) must not forge another.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ") + '"'


def audit(event: str, *, user: str, request_id: str, **fields: Any) -> None:
    """Record one audited action (``stream_upload``, ``binary_download``, ``purge`` ...).

    ``user`` is the caller's username, ``request_id`` the id from
    :func:`azul_metastore.api.errors.request_id` (or a job id), and ``fields`` whatever identifies
    the object acted on (``source``, ``sha256``, ``size``...). Values are logged as text; lists are
    comma-joined, None is ``-``.
    """
    values = {"event": event, "user": user or "-", "request_id": request_id or "-"}
    values.update({k: _text(v) for k, v in fields.items()})
    _log.info(" ".join(f"{k}={_quote(v)}" for k, v in values.items()), extra={"audit": values})
