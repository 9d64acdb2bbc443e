"""The lifecycle primitives of the OpenSearch index: what age-off and purge read before they
delete, and the purge tombstones that keep a replay of the event log from writing purged documents
back (the ``tombstone`` index of the partition). Reads here are unfiltered: lifecycle jobs run with
system access."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from azul_metastore.index.opensearch.client import translated
from azul_metastore.index.opensearch.compiler import instant
from azul_metastore.index.opensearch.reads import METADATA, selector_query
from azul_metastore.index.port import Selector
from azul_metastore.index.timestamps import epoch_ms, to_utc_text

if TYPE_CHECKING:
    from azul_metastore.index.opensearch.store import OpenSearchMetadataStore

_FIELDS = ["sha256", "source.name", "datastreams", "action", "parent.sha256", "timestamp"]
_CHUNK = 1000


def _shape(hit: dict[str, Any]) -> dict[str, Any]:
    doc = hit["_source"]
    return {"id": hit["_id"], "sha256": doc.get("sha256"), "source": (doc.get("source") or {}).get("name"),
            "datastreams": doc.get("datastreams") or [], "action": doc.get("action"),
            "parent": (doc.get("parent") or {}).get("sha256")}


def select(store: OpenSearchMetadataStore, selector: Selector, limit: int | None) -> list[dict[str, Any]]:
    hits = list(store.scan("binary2", selector_query(selector), _FIELDS))
    hits.sort(key=lambda h: (h["_source"].get("timestamp") or "", h["_id"]))
    return [_shape(h) for h in (hits[:limit] if limit else hits)]


def count_selected(store: OpenSearchMetadataStore, selector: Selector) -> tuple[int, int]:
    body = {"size": 0, "track_total_hits": True, "query": selector_query(selector),
            "aggs": {"n": {"cardinality": {"field": "sha256", "precision_threshold": 40_000}}}}
    with translated("counting documents to delete"):
        answer = store.client.search(index=store.alias("binary2"), body=body)
    return int(answer["hits"]["total"]["value"]), int(answer["aggregations"]["n"]["value"])


def child_links(store: OpenSearchMetadataStore, parent_sha256s: Sequence[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(parent_sha256s), _CHUNK):
        chunk = list(parent_sha256s[start:start + _CHUNK])
        query = {"bool": {"filter": [METADATA, {"terms": {"parent.sha256": chunk}}]}}
        out += [_shape(h) for h in store.scan("binary2", query, _FIELDS)]
    return out


def count_statuses_before(store: OpenSearchMetadataStore, timestamp: str) -> int:
    with translated("counting old statuses"):
        return int(store.client.count(index=store.alias("status"),
                                      body={"query": {"range": {"timestamp": instant(lt=timestamp)}}})["count"])


def delete_statuses_of(store: OpenSearchMetadataStore, sha256s: Sequence[str], buried_at: str | None) -> list[str]:
    """Each chunk's statuses are buried (with ``buried_at``) before they are deleted."""
    gone: list[str] = []
    for start in range(0, len(sha256s), _CHUNK):
        query = {"terms": {"entity.input.entity.sha256": list(sha256s[start:start + _CHUNK])}}
        hits = list(store.scan("status", query, False))
        if buried_at and hits:
            bury(store, [h["_id"] for h in hits], buried_at)
        store._delete_hits(hits)
        gone += [h["_id"] for h in hits]
    return gone


def bury(store: OpenSearchMetadataStore, ids: Sequence[str], timestamp: str) -> None:
    """Record purged ids; a second purge of an id keeps the later time."""
    text = to_utc_text(timestamp)
    ms = epoch_ms(text)
    index = store.names.open("tombstone")
    script = {"lang": "painless", "params": {"ms": ms, "ts": text},
              "source": "if (ctx._source.ms == null || ctx._source.ms < params.ms) "
                        "{ ctx._source.ms = params.ms; ctx._source.timestamp = params.ts } else { ctx.op = 'none' }"}
    for start in range(0, len(ids), _CHUNK):
        lines = []
        for doc_id in ids[start:start + _CHUNK]:
            lines.append(orjson.dumps({"update": {"_index": index, "_id": doc_id}}))
            lines.append(orjson.dumps({"script": script, "upsert": {"ms": ms, "timestamp": text}}))
        with translated("recording purged ids"):
            # no refresh: ``buried`` reads by id (mget), which sees a write at once
            store.client.bulk(body=b"\n".join(lines) + b"\n")


def buried(store: OpenSearchMetadataStore, ids: Sequence[str]) -> dict[str, str]:
    from azul_metastore.models.events import utc_iso

    out: dict[str, str] = {}
    for start in range(0, len(ids), _CHUNK):
        with translated("reading purged ids"):
            answer = store.client.mget(index=store.names.open("tombstone"),
                                       body={"ids": list(ids[start:start + _CHUNK])})
        for doc in answer["docs"]:
            if doc.get("found"):
                out[doc["_id"]] = utc_iso(datetime.fromtimestamp(doc["_source"]["ms"] / 1000, UTC))
    return out
