"""Realistic generated events for tests: ``bench.generator`` plus the checks intake would apply.

The generator itself lives in ``bench/generator.py`` so benchmarks and tests share one source of
realistic data. Tests that need an event exactly as the event log would hold it use
:func:`through_intake`, which runs the real validation and tracking (slow, but exact).
"""

from __future__ import annotations

from typing import Any

import orjson

from azul_metastore.events import legacy
from azul_metastore.events.tracking import assign_tracking
from azul_metastore.models.events import EVENT_MODELS, BaseEvent
from bench.generator import PLUGINS, SECURITIES, SOURCES, EventGenerator

__all__ = ["PLUGINS", "SECURITIES", "SOURCES", "EventGenerator", "as_logged", "through_intake"]


def through_intake(model: str, event: dict[str, Any]) -> BaseEvent:
    """Validate ``event`` as intake does (legacy upgrade, strict model, tracking fields)."""
    raw = orjson.loads(orjson.dumps(event))
    validated = EVENT_MODELS[model].model_validate(legacy.upgrade(model, raw))
    assign_tracking(validated)
    return validated


def as_logged(model: str, event: dict[str, Any]) -> dict[str, Any]:
    """The JSON form the event log stores for ``event`` after intake (what the encoder takes)."""
    return through_intake(model, event).model_dump(mode="json", exclude_none=True)
