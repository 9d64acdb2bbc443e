"""Wire compatibility with azul-bedrock: every event our code emits validates with its models, and
events built with its models validate with ours."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from azul_metastore.app import Services
from azul_metastore.events.dispatch import ConsumerFilters
from azul_metastore.events.intake import event_json
from azul_metastore.events.tracking import assign_tracking
from azul_metastore.models.events import EVENT_MODELS
from tests.support.events import binary_event, fixture_event

pytestmark = pytest.mark.compat
ORACLE = Path(__file__).with_name("bedrock_oracle.py")


def our_events(services: Services) -> list[dict]:
    """Events as our intake and dispatch emit them, one or more of every model."""
    raw = {
        "binary": [binary_event(action=a) for a in ("sourced", "extracted", "augmented", "enriched")]
        + [binary_event(action="mapped", parent="c" * 64), fixture_event("2bd32_cuckoo.json"),
           fixture_event("2bd32_vtfilemapper.json")],
        "plugin": [{"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
                    "author": {"name": "p", "version": "1", "category": "plugin"},
                    "entity": {"name": "p", "version": "1", "category": "plugin",
                               "features": [{"name": "f", "desc": "d", "type": "string"}],
                               "config": {"is_processing_download_events": "true"}}}],
        "insert": [{"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
                    "author": {"name": "alice", "category": "user"},
                    "entity": {"original_source": "samples", "parent_sha256": "a" * 64,
                               "child": {"sha256": "b" * 64},
                               "child_history": {"sha256": "b" * 64, "action": "extracted",
                                                 "timestamp": "2024-01-01T00:00:00Z",
                                                 "author": {"name": "alice", "category": "user"}}}}],
        "download": [{"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
                      "author": {"name": "alice"}, "action": "requested",
                      "source": {"name": "samples", "timestamp": "2024-01-01T00:00:00Z", "path": []},
                      "entity": {"hash": "a" * 64}}],
        "delete": [{"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
                    "author": {"name": "alice", "category": "user"}, "action": "submission",
                    "entity": {"reason": "r", "submission": {"track_source_references": "samples.x",
                                                             "timestamp": "2024-01-01T00:00:00Z"}}}],
    }
    out = []
    for model, events in raw.items():
        result = services.intake.post(model, events)
        assert not result.failures, result.failures
        out += [{"model": model, "event": event_json(e)} for e in result.accepted]
    # status events as the active fetch emits them (dequeued), with dequeued ids on the inputs
    delivery = services.dispatch.get_events("binary", "plug", "1", 100, 0, True, ConsumerFilters(),
                                             services.dispatch.binary_topics("plug", False, False, False, True))
    assert delivery.events
    out += [{"model": "binary", "event": e} for e in delivery.events]
    out += [{"model": "status", "event": json.loads(r.value)} for r in services.event_log.read("status", 0, 100)]
    return out


def test_our_events_validate_with_azul_bedrock(compat_python: str, services: Services, tmp_path: Path) -> None:
    events = our_events(services)
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    out = subprocess.run([compat_python, str(ORACLE), "validate", str(path)], capture_output=True, text=True,
                         check=True)
    errors = json.loads(out.stdout)
    bad = [(e["model"], err) for e, err in zip(events, errors, strict=True) if err]
    assert not bad, bad
    assert {e["model"] for e in events} == set(EVENT_MODELS)


def test_bedrock_built_events_validate_with_ours(compat_python: str) -> None:
    out = subprocess.run([compat_python, str(ORACLE), "build"], capture_output=True, text=True, check=True)
    items = json.loads(out.stdout)
    assert {i["model"] for i in items} == {"binary", "status", "plugin"}
    for item in items:
        event = EVENT_MODELS[item["model"]].model_validate(item["event"])
        assign_tracking(event)
        assert event.kafka_key != "tmp"
