"""Plugin reads (inventory §2.6, §6.11): registered plugins and their versions, how their work went
over the last week, one version's detail, and the plugins that download files.

Status counts are joined to plugins by name and version whatever the author category. Azul joined on
``"{name}.plugin.{version}"`` while status documents carry the real category, so plugins registered
under any other category never got counts (inventory §11 item 16); that defect is fixed here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from azul_metastore.errors import NotFound
from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models_features import (
    Author,
    LatestPluginWithVersions,
    PluginEntity,
    PluginFeature,
    PluginInfo,
    PluginStatusSummary,
    StatusEvent,
    StatusGroup,
)
from azul_metastore.security import Access

__all__ = [
    "ERROR_PREFIX",
    "SUCCESS_STATUSES",
    "download_plugins",
    "latest_plugins",
    "plugin_info",
    "plugin_statuses",
    "registered_versions",
    "status_event",
]

SUCCESS_STATUSES = ("completed", "completed-empty", "completed-with-errors")
ERROR_PREFIX = "error-"
#: the window status counts cover: from the start of the day seven days ago (Azul's now-7d/d)
STATUS_WINDOW_DAYS = 7
#: binaries listed per status group in a plugin's detail (as Azul)
GROUP_ITEMS = 100
_AUTHOR_KEYS = ("security", "category", "name", "version", "stream")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def plugin_entity(doc: dict[str, Any], last_completion: str | None = None) -> PluginEntity:
    """Azul's ``PluginEntity`` of a stored registration (only the fields the model declares)."""
    entity = doc.get("entity") or {}
    features = [PluginFeature(name=f["name"], desc=f.get("desc"), tags=f.get("tags"), type=_text(f.get("type")))
                for f in entity.get("features") or () if f.get("name")]
    return PluginEntity(category=entity.get("category") or "", name=entity["name"],
                        version=_text(entity.get("version")), contact=entity.get("contact"),
                        last_completion=last_completion, stats=entity.get("stats"),
                        description=entity.get("description"), features=features, config=entity.get("config"),
                        security=doc.get("security") or entity.get("security") or "")


def _by_name(index: MetadataStore, access: Access) -> dict[str, list[dict[str, Any]]]:
    """Visible registrations per plugin name, newest registration first, one per version."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[str, str | None]] = set()
    docs = sorted(index.plugins(access), key=lambda d: d.get("timestamp") or "", reverse=True)
    for doc in docs:
        entity = doc.get("entity") or {}
        key = (entity.get("name"), _text(entity.get("version")))
        if key[0] and key not in seen:
            seen.add(key)
            out[key[0]].append(doc)
    return dict(sorted(out.items()))


def registered_versions(index: MetadataStore, access: Access) -> dict[tuple[str, str], tuple[str, str]]:
    """Every visible registered plugin version: (name, version) -> (category, security) of its
    newest registration."""
    out = {}
    for name, docs in _by_name(index, access).items():
        for doc in docs:
            entity = doc["entity"]
            out[(name, _text(entity.get("version")) or "")] = (_text(entity.get("category")) or "",
                                                               str(doc.get("security") or ""))
    return out


def latest_plugins(index: MetadataStore, access: Access) -> list[LatestPluginWithVersions]:
    """Every visible plugin: its versions (newest registration first) and its newest registration.

    An empty list when none are registered (Azul answered 404, which azul-client raises on).
    """
    return [LatestPluginWithVersions(versions=[_text((d["entity"]).get("version")) or "" for d in docs],
                                     newest_version=plugin_entity(docs[0]))
            for docs in _by_name(index, access).values()]


def _window_start(now: datetime) -> str:
    start = (now.astimezone(UTC) - timedelta(days=STATUS_WINDOW_DAYS)).replace(hour=0, minute=0, second=0,
                                                                               microsecond=0)
    return start.isoformat().replace("+00:00", "Z")


def plugin_statuses(index: MetadataStore, access: Access, now: datetime | None = None) -> list[PluginStatusSummary]:
    """Each plugin's newest version with its success and error counts over the last week and its
    last successful completion (any time), counting only status documents the caller may see."""
    now = now or datetime.now(UTC)
    recent: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for row in index.status_counts(access, since=_window_start(now)):
        slot = recent[(row.name, row.version)]
        if row.status in SUCCESS_STATUSES:
            slot[0] += row.count
        elif row.status.startswith(ERROR_PREFIX):
            slot[1] += row.count
    last: dict[tuple[str, str | None], str] = {}
    for row in index.status_counts(access, statuses=SUCCESS_STATUSES):
        key = (row.name, row.version)
        if row.newest and row.newest > last.get(key, ""):
            last[key] = row.newest
    out = []
    for docs in _by_name(index, access).values():
        entity = docs[0]["entity"]
        key = (entity["name"], _text(entity.get("version")))
        success, errors = recent.get(key, (0, 0))
        out.append(PluginStatusSummary(
            versions=[_text(d["entity"].get("version")) or "" for d in docs],
            newest_version=plugin_entity(docs[0], last.get(key)),
            last_completion=last.get(key), success_count=success, error_count=errors))
    return out


def status_event(doc: dict[str, Any], completed: int = 0) -> StatusEvent:
    """Azul's REST ``StatusEvent`` of a stored status document (only the declared fields)."""
    author = doc.get("author") or {}
    entity = doc.get("entity") or {}
    sha256 = ((entity.get("input") or {}).get("entity") or {}).get("sha256") or ""
    return StatusEvent(
        timestamp=doc["timestamp"],
        author=Author(**{k: _text(author[k]) for k in _AUTHOR_KEYS if author.get(k) is not None}
                      | {"category": author.get("category") or "", "name": author.get("name") or ""}),
        entity={"status": entity.get("status") or "", "error": entity.get("error"), "message": entity.get("message"),
                "runtime": entity.get("runtime"), "input": {"entity": {"sha256": sha256}}},
        completed=completed, security=doc.get("security") or "")


def plugin_info(index: MetadataStore, name: str, version: str, access: Access,
                now: datetime | None = None) -> PluginInfo:
    """One plugin version: how many binaries it produced results for, and its statuses of the last
    week grouped by status (each group: distinct binaries, newest status of up to 100 of them).

    Raises NotFound when no visible registration has that name and version.
    """
    docs = [d for d in _by_name(index, access).get(name, []) if _text(d["entity"].get("version")) == version]
    if not docs:
        raise NotFound(f"no plugin {name!r} version {version!r} is registered", name=name, version=version)
    entity = docs[0]["entity"]
    encoded = f"{name}.{entity.get('category') or ''}.{version}"
    groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for doc in index.statuses(access, author=encoded, since=_window_start(now or datetime.now(UTC))):
        status = (doc.get("entity") or {}).get("status") or ""
        sha256 = (((doc.get("entity") or {}).get("input") or {}).get("entity") or {}).get("sha256") or ""
        groups[status].setdefault(sha256, doc)  # newest first: the first seen is the newest
    status = [StatusGroup(status=s, num_items=len(per_binary),
                          items=[status_event(d) for d in list(per_binary.values())[:GROUP_ITEMS]])
              for s, per_binary in sorted(groups.items())]
    last = max((r.newest for r in index.status_counts(access, statuses=SUCCESS_STATUSES)
                if r.name == name and r.version == version and r.newest), default=None)
    return PluginInfo(num_entities=index.count_authored(name, version, access),
                      plugin=plugin_entity(docs[0], last), status=status)


def download_plugins(index: MetadataStore, access: Access) -> list[Author]:
    """The newest registration of each plugin that processes download events.

    Raises NotFound when there are none (as Azul; only the web UI calls this).
    """
    out = []
    for docs in _by_name(index, access).values():
        doc = docs[0]
        if (doc.get("encoded") or {}).get("is_processing_download_events"):
            entity = doc["entity"]
            out.append(Author(name=entity["name"], version=_text(entity.get("version")), category=entity.get("category")
                              or "", security=doc.get("security")))
    if not out:
        raise NotFound("no registered plugin processes download events")
    return out
