"""The shared event generator: deterministic, realistic, and equal to what intake would store."""

from __future__ import annotations

import statistics
from collections import Counter

from tests.support.gen import EventGenerator, through_intake


def test_deterministic() -> None:
    a = list(EventGenerator(seed=5).events(300))
    b = list(EventGenerator(seed=5).events(300))
    c = list(EventGenerator(seed=6).events(300))
    assert a == b
    assert a != c


def test_every_event_validates_with_intake_tracking() -> None:
    fields = ("kafka_key", "track_source_references", "track_authors", "track_links")
    for model, event in EventGenerator(seed=3).events(1500, weights=(70, 10, 10, 10)):
        validated = through_intake(model, event)
        if model == "binary":
            for name in fields:
                assert getattr(validated, name) == event[name], name
        elif model in ("plugin", "status"):
            assert validated.kafka_key == event["kafka_key"]


def test_realistic_mix() -> None:
    events = list(EventGenerator(seed=1).binaries(3000))
    actions = Counter(e["action"] for e in events)
    assert set(actions) == {"sourced", "extracted", "enriched", "augmented", "mapped"}
    counts = [len(e["entity"]["features"]) for e in events]
    assert min(counts) >= 10 and max(counts) <= 200
    assert 25 <= statistics.median(counts) <= 35
    depths = Counter(len(e["source"]["path"]) - 1 for e in events if e["action"] == "extracted")
    assert max(depths) == 4
    assert len({e["source"]["name"] for e in events}) == 5
    assert len({e["source"].get("security") for e in events}) == 3
    assert any("entropy" in e["entity"].get("info", {}) for e in events)
