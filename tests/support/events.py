"""Small builders of valid model-6 events for tests, and the fixture events of shared/fixtures."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
AZUL_EVENTS = FIXTURES / "azul-events"
CONTENT = FIXTURES / "content"


def fixture_event(name: str) -> dict[str, Any]:
    return json.loads((AZUL_EVENTS / name).read_text())


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def binary_event(
    sha256: str | None = None,
    action: str = "sourced",
    source: str = "samples",
    author: str = "tester",
    version: str = "1",
    timestamp: str = "2024-01-01T00:00:00+00:00",
    references: dict[str, str] | None = None,
    security: str | None = None,
    parent: str | None = None,
    features: list[dict[str, Any]] | None = None,
    pad: int = 0,
    above: Sequence[str] = (),
) -> dict[str, Any]:
    """A valid binary event; ``parent`` makes it a child (extracted/mapped) of that sha256, and
    ``above`` (root first) names the binaries its path passed through above the parent."""
    sha256 = sha256 or sha256_of(f"{author}{action}{timestamp}{parent}")
    category = "user" if action == "sourced" else "plugin"
    node = {
        "sha256": sha256,
        "action": action,
        "timestamp": timestamp,
        "author": {"name": author, "category": category, "version": version},
    }
    path = [node]
    if parent or action in ("extracted", "augmented", "enriched"):
        root = {
            "sha256": parent or sha256,
            "action": "sourced",
            "timestamp": timestamp,
            "author": {"name": "uploader", "category": "user"},
        }
        path = [root, node]
        if above:
            nodes = [{"sha256": sha, "action": "extracted", "timestamp": timestamp,
                      "author": {"name": "unzip", "category": "plugin", "version": "1"}} for sha in above]
            nodes[0].update({"action": "sourced", "author": {"name": "uploader", "category": "user"}})
            root["action"] = "extracted"
            root["author"] = {"name": "unzip", "category": "plugin", "version": "1"}
            path = [*nodes, root, node]
    streams = []
    if action in ("sourced", "extracted", "augmented"):
        streams.append({"label": "content", "sha256": sha256, "size": 10, "file_format": "text/plain"})
    if action == "augmented":
        streams.append({"label": "text", "sha256": sha256_of(sha256 + "text"), "size": 5})
    event = {
        "model_version": 6,
        "kafka_key": "tmp",
        "timestamp": timestamp,
        "author": {"name": author, "category": category, "version": version},
        "action": action,
        "source": {
            "name": source,
            "timestamp": timestamp,
            "references": references or {"user": "bob"},
            "path": path,
        },
        "entity": {
            "sha256": sha256,
            "size": 10,
            "features": features if features is not None else [{"name": "f1", "type": "string", "value": "v1"}],
            "datastreams": streams,
        },
    }
    if security:
        event["author"]["security"] = security
        event["source"]["security"] = security
    if pad:
        event["entity"]["info"] = {"padding": "x" * pad}
    return copy.deepcopy(event)
