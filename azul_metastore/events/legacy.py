"""Upgrade events written by older Azul versions (no ``model_version``, or below 6) to model 6.

Real Azul archives hold such events (the fixtures under ``shared/fixtures/azul-events`` are two of
them). Upgrading them on intake, before strict validation, lets old data be replayed into the
metastore without loosening the model-6 rules for everything else. What changes:

* security objects ``{exclusive, inclusive, markings}`` become security strings;
* ``entity.type`` (the old free-text file type, e.g. ``Win32 EXE``) becomes the feature
  ``file_format_legacy``, the name Azul's identification uses for it; path nodes lose ``type``;
* path actions that model 6 no longer has (e.g. a loader's ``file_scanned``) become ``mapped``:
  they recorded imports from external databases, which is what ``mapped`` means now;
* an ``enriched`` event that carries datastreams becomes ``augmented`` when it adds streams beside
  ``content`` (model 6 forbids streams on enriched events), otherwise it drops the streams;
* feature values that are not strings are converted to their text.
"""

from __future__ import annotations

from typing import Any

from azul_metastore.models.events import CURRENT_MODEL_VERSION, BinaryAction

_ACTIONS = {a.value for a in BinaryAction}


def _security_text(value: Any) -> Any:
    if isinstance(value, dict):
        labels: list[str] = []
        for part in ("exclusive", "inclusive", "markings"):
            labels.extend(str(x) for x in value.get(part) or [])
        return " ".join(labels)
    return value


def _upgrade_author(author: Any) -> None:
    if isinstance(author, dict) and "security" in author:
        author["security"] = _security_text(author["security"])


def _upgrade_binary(event: dict[str, Any]) -> None:
    _upgrade_author(event.get("author"))
    entity = event.get("entity")
    if isinstance(entity, dict):
        legacy_type = entity.pop("type", None)
        features = entity.setdefault("features", [])
        if isinstance(features, list):
            for feat in features:
                if isinstance(feat, dict) and "value" in feat and not isinstance(feat["value"], str):
                    feat["value"] = str(feat["value"])
            if legacy_type and not any(
                isinstance(f, dict) and f.get("name") == "file_format_legacy" for f in features
            ):
                features.append({"name": "file_format_legacy", "type": "string", "value": str(legacy_type)})
    source = event.get("source")
    if isinstance(source, dict):
        source["security"] = _security_text(source.get("security"))
        if source["security"] is None:
            source.pop("security")
        path = source.get("path")
        for node in path if isinstance(path, list) else ():  # not a list: validation names the field
            if not isinstance(node, dict):
                continue
            node.pop("type", None)
            _upgrade_author(node.get("author"))
            if node.get("action") not in _ACTIONS:
                node["action"] = BinaryAction.mapped.value
    if (event.get("action") == BinaryAction.enriched.value and isinstance(entity, dict)
            and isinstance(entity.get("datastreams"), list) and entity["datastreams"]):
        labels = {d.get("label") for d in entity["datastreams"] if isinstance(d, dict)}
        if "content" in labels and len(labels) > 1:
            event["action"] = BinaryAction.augmented.value
            path = source.get("path") if isinstance(source, dict) else None
            last = path[-1] if isinstance(path, list) and path else None
            if isinstance(last, dict) and last.get("action") == BinaryAction.enriched.value:
                last["action"] = BinaryAction.augmented.value
        else:
            entity["datastreams"] = []


def needs_upgrade(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    try:
        return int(event.get("model_version") or 0) < CURRENT_MODEL_VERSION
    except (TypeError, ValueError):  # not a version number: validation says so, naming the field
        return False


def upgrade(model: str, event: dict[str, Any]) -> dict[str, Any]:
    """Return ``event`` upgraded in place to model version 6 (only if it is older)."""
    if not needs_upgrade(event):
        return event
    if model == "binary":
        _upgrade_binary(event)
    elif model == "status":
        _upgrade_author(event.get("author"))
        entity = event.get("entity")
        if isinstance(entity, dict) and isinstance(entity.get("input"), dict):
            entity["input"] = upgrade("binary", entity["input"])
    else:
        _upgrade_author(event.get("author"))
        if isinstance(event.get("entity"), dict):
            _upgrade_author(event["entity"])
    event["model_version"] = CURRENT_MODEL_VERSION
    return event
