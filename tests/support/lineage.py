"""Submissions with lineage for lifecycle tests: a root binary, its descendants (extracted, with the
whole path), plugin results on them, and their bytes stored in the blob store as the stream API
would - then indexed, so age-off and purge have a real index, blob store and event log to act on."""

from __future__ import annotations

import hashlib
from typing import Any

from azul_metastore.app import Services, build_ingestor
from azul_metastore.security import Access


def content(name: str) -> tuple[bytes, str]:
    data = f"content of {name}\n".encode()
    return data, hashlib.sha256(data).hexdigest()


def sha(name: str) -> str:
    return content(name)[1]


def store(services: Services, source: str, name: str, label: str = "content") -> str:
    data, digest = content(name)
    writer = services.blobs.open_writer(source, label)
    writer.write(data)
    writer.commit()
    return digest


def _node(name: str, action: str, ts: str, author: str = "uploader", category: str = "user") -> dict[str, Any]:
    return {"sha256": sha(name), "action": action, "timestamp": ts,
            "author": {"name": author, "category": category, "version": "1" if category == "plugin" else None}}


def _event(path: list[dict[str, Any]], source: str, ts: str, refs: dict[str, str], action: str,
           streams: list[dict[str, Any]], author: dict[str, Any]) -> dict[str, Any]:
    me = path[-1]
    return {"model_version": 6, "kafka_key": "tmp", "timestamp": ts, "author": author, "action": action,
            "source": {"name": source, "timestamp": ts, "references": refs, "path": path},
            "entity": {"sha256": me["sha256"], "size": 20, "datastreams": streams,
                       "features": [{"name": "kind", "type": "string", "value": action}]}}


def submission(services: Services, source: str, ts: str, root: str, tree: dict[str, list[str]] | None = None,
               refs: dict[str, str] | None = None, results: bool = True) -> list[dict[str, Any]]:
    """Publish (not index) a submission of ``root`` with ``tree`` (parent name → child names,
    extracted by plugin ``unzip``), storing each binary's bytes under ``source``; with ``results``
    each binary also gets an enriched result from plugin ``peinfo``. Returns the events."""
    refs = refs or {"user": "bob"}
    events = []

    def walk(path: list[dict[str, Any]], name: str) -> None:
        digest = store(services, source, name)
        action = path[-1]["action"]
        stream = [{"label": "content", "sha256": digest, "size": 20, "file_format": "text/plain"}]
        author = path[-1]["author"]
        events.append(_event(path, source, ts, refs, action, stream, {k: v for k, v in author.items() if v}))
        if results:
            plugin = {"name": "peinfo", "category": "plugin", "version": "1"}
            events.append(_event([*path, _node(name, "enriched", ts, "peinfo", "plugin")], source, ts, refs,
                                 "enriched", [], plugin))
        for child in (tree or {}).get(name, []):
            walk([*path, _node(child, "extracted", ts, "unzip", "plugin")], child)

    walk([_node(root, "sourced", ts)], root)
    for event in events:
        for node in event["source"]["path"]:
            node["author"] = {k: v for k, v in node["author"].items() if v}
    result = services.intake.post("binary", events)
    assert not result.failures, result.failures
    return events


def ingest(services: Services, model: str = "binary") -> int:
    ingestor = build_ingestor(services, model)
    total = 0
    while count := ingestor.run_once(wait=0):
        total += count
    return total


def system(services: Services) -> Access:
    return Access.system_access(services.security)


def docs_of(services: Services, name: str) -> list[dict[str, Any]]:
    return services.index.documents([sha(name)], system(services))


def refs_of(services: Services, name: str) -> set[str]:
    """The sources holding a stored reference to the binary's bytes."""
    return {r.source for r in services.blobs.iter_refs(sha256=sha(name))}
