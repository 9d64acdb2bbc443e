"""The features section of a binary's summary (inventory §6.10): feature values merged across the
binary's documents, and the plugin limits behind the ``large`` diagnostic.

Azul stores every plugin's result separately (no merge at write time, §4.6), so the summary merges:
one entry per (name, type, value) with every document that reported it (``instances``), every
label, every location, and the value's typed parts for the UI's pivots.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from azul_metastore.index.port import MetadataStore
from azul_metastore.search.models import BinaryFeatureValue, FeatureValuePart
from azul_metastore.search.models_features import FeatureValueTag
from azul_metastore.security import Access

__all__ = ["feature_values", "path_levels", "plugin_size_limits"]

#: levels of a file path listed for prefix/suffix pivots (as Azul's path analyzers, capped)
PATH_LEVELS = 5
_PART_KEYS = ("integer", "float", "datetime", "binary_string", "scheme", "netloc", "filepath", "params", "query",
              "fragment", "username", "password", "hostname", "ip", "port")


def path_levels(path: str) -> tuple[list[str], list[str]]:
    """(prefixes, suffixes) of a ``/`` path, shortest first, at most PATH_LEVELS each."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return [], []
    lead = "/" if path.startswith("/") else ""
    prefixes = [lead + "/".join(parts[:i]) for i in range(1, len(parts) + 1)][:PATH_LEVELS]
    suffixes = ["/".join(parts[-i:]) for i in range(1, len(parts) + 1)][:PATH_LEVELS]
    return prefixes, suffixes


def _parts(feature: dict[str, Any], locations: list[list[int]]) -> FeatureValuePart | None:
    enriched = feature.get("enriched") or {}
    values: dict[str, Any] = {k: enriched[k] for k in _PART_KEYS if enriched.get(k) is not None}
    if "filepath" in values:
        values["filepath_unix"], values["filepath_unixr"] = path_levels(str(values["filepath"]))
    if locations:
        values["location"] = locations
    return FeatureValuePart(**values) if values else None


def feature_values(index: MetadataStore, docs: Iterable[dict[str, Any]], access: Access, *,
                   with_tags: bool = False) -> list[BinaryFeatureValue]:
    """Features of ``docs`` merged by (name, type, value), sorted by name then value."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for doc in docs:
        instance = doc.get("sha256_author_action") or ""
        for feature in doc.get("features") or ():
            value = feature.get("value")
            key = (feature.get("name") or "", feature.get("type") or "string",
                   value if isinstance(value, str) else orjson.dumps(value).decode())
            slot = merged.get(key)
            if slot is None:
                slot = merged[key] = {"feature": feature, "instances": [], "label": [], "location": []}
            if instance and instance not in slot["instances"]:
                slot["instances"].append(instance)
            label = feature.get("label")
            if label and label not in slot["label"]:
                slot["label"].append(label)
            where = ((feature.get("encoded") or {}).get("location")) or None
            if where is not None:
                pair = [int(where.get("gte") or 0), int(where.get("lte") or 0)]
                if pair not in slot["location"]:
                    slot["location"].append(pair)
    tags = _tags(index, access, {(k[0], k[2]) for k in merged}) if with_tags else {}
    out = []
    for (name, type_, value), slot in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        feature = slot["feature"]
        out.append(BinaryFeatureValue(
            name=name, type=type_, value=value, label=slot["label"], offset=feature.get("offset"),
            size=feature.get("size"), parts=_parts(feature, slot["location"]), instances=slot["instances"],
            location=slot["location"], tags=tags.get((name, value), [])))
    return out


def _tags(index: MetadataStore, access: Access, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], list]:
    """Visible feature-value tags of the given (name, value) pairs."""
    out: dict[tuple[str, str], list[FeatureValueTag]] = {}
    if not pairs:
        return out
    for doc in index.annotations(access, kind="fv_tag"):
        key = (doc.get("feature_name") or "", str(doc.get("feature_value") or ""))
        if key in pairs:
            out.setdefault(key, []).append(FeatureValueTag(
                feature_name=key[0], feature_value=key[1], tag=doc.get("tag") or "", type=doc.get("type") or "fv_tag",
                owner=doc.get("owner"), timestamp=doc.get("timestamp") or "", security=doc.get("security") or ""))
    return out


def plugin_size_limits(index: MetadataStore, access: Access) -> list[tuple[str, int]]:
    """(plugin name, ``filter_max_content_size``) of the newest visible registration of each plugin
    that declares one (config values are JSON text, §11 item 17)."""
    newest: dict[str, dict[str, Any]] = {}
    for doc in index.plugins(access):
        name = (doc.get("entity") or {}).get("name")
        if name and (name not in newest or (doc.get("timestamp") or "") > (newest[name].get("timestamp") or "")):
            newest[name] = doc
    out = []
    for name, doc in sorted(newest.items()):
        raw = ((doc.get("entity") or {}).get("config") or {}).get("filter_max_content_size")
        try:
            limit = int(orjson.loads(raw)) if isinstance(raw, str) else int(raw) if raw is not None else None
        except (orjson.JSONDecodeError, TypeError, ValueError):
            limit = None
        if limit:
            out.append((name, limit))
    return out
