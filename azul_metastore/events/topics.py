"""Topic names of the event log: one per event model, lanes for binary events, a dead-letter topic.

Binary events travel in priority lanes, read in this order by a consumer: ``binary.expedite``
(analyst asked for it now), ``binary.retry.<plugin>`` (one lane per plugin, so a retry reaches only
the plugin that lost the task), then ``binary`` (live and historic work).
"""

from __future__ import annotations

from azul_metastore.models.events import BaseEvent, BinaryEvent

BINARY = "binary"
BINARY_EXPEDITE = "binary.expedite"
PLUGIN = "plugin"
STATUS = "status"
INSERT = "insert"
DOWNLOAD = "download"
DELETE = "delete"
DEAD_LETTER = "dead-letter"
#: the filters each consumer of binary events fetches with (``events/consumers.py``)
CONSUMERS = "consumers"

#: prefixes of the consumer groups of the metastore's own ingestors and lifecycle jobs, which no
#: plugin may take (``EventDispatch.group``)
INGESTOR_GROUPS, LIFECYCLE_GROUPS = "ingestor-", "lifecycle-"

MODEL_TOPICS = {
    "binary": BINARY,
    "plugin": PLUGIN,
    "status": STATUS,
    "insert": INSERT,
    "download": DOWNLOAD,
    "delete": DELETE,
}


def retry_lane(plugin_name: str) -> str:
    return f"binary.retry.{plugin_name}"


def binary_lanes(plugin_name: str | None = None) -> list[str]:
    """The binary topics a consumer reads, highest priority first."""
    lanes = [BINARY_EXPEDITE]
    if plugin_name:
        lanes.append(retry_lane(plugin_name))
    lanes.append(BINARY)
    return lanes


def topic_for(model: str, event: BaseEvent) -> str:
    if isinstance(event, BinaryEvent) and event.flags.expedite:
        return BINARY_EXPEDITE
    return MODEL_TOPICS[model]
