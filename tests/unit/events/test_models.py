"""The model-6 event models: strictness, timestamps, the per-action rules, legacy upgrades."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from azul_metastore.events import legacy
from azul_metastore.models.events import BinaryEvent, DeleteEvent, PluginEvent, StatusEvent, utc_iso
from tests.support.events import binary_event, fixture_event


def test_valid_event_of_every_action() -> None:
    for action in ("sourced", "extracted", "augmented", "enriched"):
        BinaryEvent.model_validate(binary_event(action=action))
    mapped = binary_event(action="mapped", parent="a" * 64)
    BinaryEvent.model_validate(mapped)


def test_unknown_fields_are_rejected_at_any_depth() -> None:
    event = binary_event()
    event["entity"]["features"][0]["colour"] = "red"
    with pytest.raises(ValidationError, match=r"entity\.features\.0\.colour"):
        BinaryEvent.model_validate(event)


def test_naive_timestamps_are_rejected() -> None:
    event = binary_event(timestamp="2024-01-01T00:00:00")
    with pytest.raises(ValidationError, match="timezone"):
        BinaryEvent.model_validate(event)


def test_go_nanosecond_timestamps_are_trimmed_to_microseconds() -> None:
    event = binary_event(timestamp="2021-10-08T13:43:20.668807284+11:00")
    parsed = BinaryEvent.model_validate(event)
    assert utc_iso(parsed.timestamp) == "2021-10-08T02:43:20.668807Z"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e["entity"].update(datastreams=[]), "must carry a datastream labelled 'content'"),
        (lambda e: e.update(action="enriched") or e["source"]["path"][-1].update(action="enriched"),
         "enriched event may not carry datastreams"),
        (lambda e: e["source"].update(path=[]), "at least one node"),
        (lambda e: e["source"]["path"].append(copy.deepcopy(e["source"]["path"][0])), "exactly one node"),
        (lambda e: e.update(action="mapped"), "mapped event may not carry a 'content' datastream"),
    ],
)
def test_action_rules(mutate, message: str) -> None:
    event = binary_event()
    mutate(event)
    with pytest.raises(ValidationError, match=message):
        BinaryEvent.model_validate(event)


def test_augmented_needs_another_stream() -> None:
    event = binary_event(action="augmented")
    event["entity"]["datastreams"] = event["entity"]["datastreams"][:1]
    with pytest.raises(ValidationError, match="at least one other label"):
        BinaryEvent.model_validate(event)


def test_enriched_node_only_last() -> None:
    event = binary_event(action="extracted", parent="b" * 64)
    event["source"]["path"][0]["action"] = "enriched"
    with pytest.raises(ValidationError, match=r"source.path\[0\]"):
        BinaryEvent.model_validate(event)


def test_fixture_events_upgrade_to_model_6() -> None:
    cuckoo = BinaryEvent.model_validate(legacy.upgrade("binary", fixture_event("2bd32_cuckoo.json")))
    assert cuckoo.model_version == 6
    # enriched with report and screenshot streams is model-6 "augmented"
    assert cuckoo.action == "augmented"
    assert cuckoo.source.security == "OFFICIAL"
    assert cuckoo.source.path[0].author.security == "OFFICIAL"
    assert any(f.name == "file_format_legacy" and f.value == "Win32 EXE" for f in cuckoo.entity.features)

    vt = BinaryEvent.model_validate(legacy.upgrade("binary", fixture_event("2bd32_vtfilemapper.json")))
    assert vt.action == "mapped"
    assert vt.source.path[0].action == "mapped"  # was the loader's "file_scanned"
    assert len(vt.entity.features) > 300


def test_upgrade_leaves_model_6_events_alone() -> None:
    event = binary_event()
    assert legacy.upgrade("binary", copy.deepcopy(event)) == event


def test_plugin_status_and_delete_models() -> None:
    base = {"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
            "author": {"name": "p", "version": "1", "category": "plugin"}}
    PluginEvent.model_validate({**base, "entity": {"name": "p", "version": "1", "features": [
        {"name": "f", "desc": "d", "type": "string"}], "config": {"x": "1"}}})
    StatusEvent.model_validate({**base, "entity": {"input": binary_event(), "status": "completed"}})
    with pytest.raises(ValidationError, match=r"needs entity\.link"):
        DeleteEvent.model_validate({**base, "action": "link", "entity": {"reason": "r"}})
    with pytest.raises(ValidationError, match="status"):
        StatusEvent.model_validate({**base, "entity": {"input": binary_event(), "status": "exploded"}})
