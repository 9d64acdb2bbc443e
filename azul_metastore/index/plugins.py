"""Plugin registration documents (§4.8): who can run, what features they produce, their config.

The id is the dispatcher's ``kafka_key`` (one per plugin name+version), so registering the same
version again replaces the document and a new version adds one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from azul_metastore.index.documents import PLUGIN, Document, EncodeError
from azul_metastore.index.labelling import DocumentSecurity
from azul_metastore.index.timestamps import to_utc_text

__all__ = ["plugin_document"]


def plugin_document(event: Mapping[str, Any], security: DocumentSecurity) -> Document:
    """The plugin document of a registration event.

    Config values must be JSON text (``"true"``, ``"1000"``, ``"\\"x\\""``), as Azul requires, else
    EncodeError(reason="bad_config"). ``entity.config`` keeps the text as sent (clients read it back
    as strings); ``encoded.is_processing_download_events`` holds that flag parsed, for filtering.
    """
    author = security.author(event["author"], "author.security")
    entity = event["entity"]
    config = entity.get("config") or {}
    parsed: dict[str, Any] = {}
    for key, value in config.items():
        try:
            if not isinstance(value, str):
                raise TypeError(key)
            parsed[key] = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):
            raise EncodeError(
                f"plugin config {key!r} = {value!r} is not JSON text; send JSON as a string, "
                'e.g. "true", "1000" or "\\"text\\""',
                "bad_config",
                key=key,
            ) from None
    stored = security.author(entity, "entity.security")
    for key in ("description", "contact"):
        if entity.get(key) is not None:
            stored[key] = entity[key]
    stored["features"] = [dict(f) for f in entity.get("features") or ()]
    stored["config"] = dict(config)
    combined = security.combine((author["security"], stored["security"]))
    body = {
        "security": combined,
        "encoded_security": security.encoded(combined),
        "model_version": event["model_version"],
        "timestamp": to_utc_text(event["timestamp"]),
        "author": author,
        "entity": stored,
        "encoded": {"is_processing_download_events": parsed.get("is_processing_download_events") is True},
    }
    return Document(PLUGIN, event["kafka_key"], body)
