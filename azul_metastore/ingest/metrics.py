"""Prometheus counters of the ingestors, named as Azul names them (inventory §1.2), and the
metrics HTTP server that long-running commands start on ``prometheus_port`` (0 disables it)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, start_http_server

log = logging.getLogger(__name__)

INGEST = Counter("azul_ingest", "Events ingested, by outcome", ["type", "status", "plugin"])
DUPLICATES = Counter("azul_ingest_duplicates", "Events skipped as already indexed", ["type", "plugin"])
AGED_OFF = Counter("azul_ingest_drop_already_aged_off", "Events older than their source's retention", ["plugin"])
DEAD_LETTERS = Counter("azul_ingest_dead_letters", "Events sent to the dead-letter topic", ["type", "reason"])

_started: set[int] = set()


def serve_metrics(port: int) -> None:
    """Expose /metrics on 127.0.0.1:port once per process."""
    if port and port not in _started:
        try:
            start_http_server(port, addr="127.0.0.1")
        except OSError as exc:
            # another process of this host has it (two ingestors, an ingest-status beside serve):
            # the work matters more than its metrics
            log.warning("metrics not served: port %d on 127.0.0.1: %s (set METASTORE_PROMETHEUS_PORT to a free"
                        " port, or 0 for none)", port, exc.strerror)
            return
        _started.add(port)
        log.info("metrics on http://127.0.0.1:%d/metrics", port)
