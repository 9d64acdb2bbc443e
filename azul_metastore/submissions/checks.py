"""Input checks shared by every write: read-only mode, security, sources and references, JSON maps,
timestamps, stream labels and hashes (inventory §2.3 "errors common to submit endpoints", §7.2).

They run before any byte is stored or any event published, so a refused request leaves nothing
behind. Each raises the error whose status the inventory documents (400, 422 or 423) with a message
that says what would have been accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from azul_metastore.errors import BadRequest, InvalidInput, InvalidSecurity, ReadOnly
from azul_metastore.models.events import DataLabel
from azul_metastore.security import Access
from azul_metastore.settings import Settings

__all__ = [
    "SHA256",
    "check_sha256",
    "check_source",
    "check_stream_labels",
    "check_writable",
    "json_map",
    "require_security",
    "submission_time",
]

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def check_writable(settings: Settings) -> None:
    """423 on every write while the server runs with ``readonly_mode`` (maintenance, migrations)."""
    if settings.readonly_mode:
        raise ReadOnly("the metastore is in read-only mode (METASTORE_READONLY_MODE): writes are refused for now")


def require_security(access: Access, security: str | None) -> str:
    """The normalised security if the caller may assign it. Unlike reads, a write must name its
    security: a blank one is refused instead of silently becoming the default (as Azul does)."""
    if security is None or not security.strip():
        raise InvalidSecurity("security is required: give the security of what you submit (e.g. one of the presets "
                              "of GET /api/v0/security)", field="security")
    return access.require_assignable(security)


def json_map(text: str | None, field: str) -> dict[str, str]:
    """A form field holding a JSON object of strings (``references``, ``settings``, ``relationship``);
    absent or blank is ``{}``. Numbers and booleans are accepted and kept as their JSON text."""
    if text is None or not text.strip():
        return {}
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{field} is not valid JSON ({exc}); send a JSON object of strings, "
                           'e.g. {"user": "bob"}', field=field) from exc
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object of strings, not a JSON {type(value).__name__}",
                           field=field)
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, str):
            out[key] = item
        elif isinstance(item, bool | int | float):
            out[key] = orjson.dumps(item).decode()
        else:
            raise InvalidInput(f"{field}[{key!r}] must be a string, not a JSON {type(item).__name__}",
                               field=field, key=key)
    return out


def check_source(settings: Settings, source_id: str | None, references: dict[str, str]) -> str:
    """The source must be configured (400), every required reference given and no other (400)."""
    if not source_id:
        raise BadRequest("source_id is required; configured sources: " + ", ".join(sorted(settings.sources)),
                         field="source_id")
    source = settings.sources.get(source_id)
    if source is None:
        raise BadRequest(f"source {source_id!r} is not configured; configured sources: "
                         f"{', '.join(sorted(settings.sources)) or '(none)'}", source=source_id)
    known = {r.name for r in source.references}
    missing = sorted(r.name for r in source.references if r.required and not references.get(r.name))
    if missing:
        raise BadRequest(f"source {source_id!r} requires the references {', '.join(missing)}; accepted references: "
                         f"{', '.join(sorted(known))}", source=source_id, missing=missing)
    unknown = sorted(set(references) - known)
    if unknown:
        raise BadRequest(f"source {source_id!r} has no references named {', '.join(unknown)}; accepted references: "
                         f"{', '.join(sorted(known)) or '(none)'}", source=source_id, unknown=unknown)
    return source_id


def submission_time(text: str | None, now: datetime | None = None) -> datetime:
    """The submission timestamp: ISO 8601, UTC assumed when it has no zone; a time in the future is
    clamped to now (as Azul), so a skewed client clock cannot date a submission ahead of the rest."""
    now = now or datetime.now(UTC)
    if text is None or not text.strip():
        raise InvalidInput("timestamp is required (ISO 8601, e.g. 2024-05-01T12:00:00Z)", field="timestamp")
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"timestamp {text!r} is not ISO 8601 (e.g. 2024-05-01T12:00:00Z)",
                           field="timestamp") from exc
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"timestamp {text!r} is out of range: in UTC it must fall within years 1 to 9999",
                           field="timestamp") from None
    return min(ts, now)


def check_stream_labels(labels: list[str], count: int) -> list[DataLabel]:
    """One label per alternate stream, each a known label other than ``content`` (422)."""
    if len(labels) != count:
        raise InvalidInput(f"{count} stream_data files but {len(labels)} stream_labels: give one label per stream",
                           field="stream_labels")
    accepted = ", ".join(label.value for label in DataLabel if label is not DataLabel.content)
    out = []
    for text in labels:
        try:
            label = DataLabel(text)
        except ValueError as exc:
            raise InvalidInput(f"stream label {text!r} is not known; accepted: {accepted}",
                               field="stream_labels") from exc
        if label is DataLabel.content:
            raise InvalidInput(f"an alternate stream cannot be labelled 'content' (that is the binary itself); "
                               f"accepted: {accepted}", field="stream_labels")
        out.append(label)
    return out


def check_sha256(text: str | None, field: str) -> str:
    """A sha256 given in a form field: 64 hex digits (422), returned lower-cased."""
    if not text or not SHA256.match(text.strip()):
        raise InvalidInput(f"{field} must be a sha256 (64 hex digits), got {text!r}", field=field)
    return text.strip().lower()
