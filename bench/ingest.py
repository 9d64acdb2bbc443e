"""Ingest throughput: realistic binary events (with status and plugin events alongside) published to
the event log, then indexed by the real ingestors, as ``serve`` runs them. Prints and writes
bench/results/ingest.json with events/s and the index size per million events.

Target on this machine, embedded SQLite: >= 5,000 binary events/s sustained over 1,000,000 events.

Usage: .venv/bin/python -m bench.ingest [--events 1000000] [--batch 500]

``--backend opensearch`` indexes into an OpenSearch node instead (``--opensearch-url``, a fresh
partition deleted afterwards) and writes bench/results/ingest_opensearch.json next to the embedded
figures, so the two can be read side by side. Target there: >= 2,000 binary events/s on one node.
``--binary-indices`` picks the binary2 layout; shards come from ``METASTORE_OPENSEARCH_SHARDS``. Run it
on a node without other partitions: one that held two kept 200,000-binary partitions and 130
indices leaked by a test suite indexed 30 % slower.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson

from azul_metastore.app import build_ingestor, build_services
from azul_metastore.events.port import Message
from azul_metastore.ingest.processes import run_processes
from azul_metastore.settings import load_settings
from bench._report import report
from bench.generator import SOURCES, EventGenerator


def publish(services, gen: EventGenerator, binaries: int, chunk: int = 5000) -> dict[str, int]:
    """Fill the log directly (already-valid events), not timed: the benchmark is about indexing."""
    counts = {"binary": 0, "status": 0, "plugin": 0}
    done = 0
    while done < binaries:
        n = min(chunk, binaries - done)
        batch = [gen.binary() for _ in range(n)]
        services.event_log.append("binary", [Message(e["kafka_key"], orjson.dumps(e)) for e in batch])
        statuses = [gen.status() for _ in range(n // 10)]
        services.event_log.append("status", [Message(e["kafka_key"], orjson.dumps(e)) for e in statuses])
        counts["binary"] += n
        counts["status"] += len(statuses)
        done += n
    plugins = [gen.plugin() for _ in range(50)]
    services.event_log.append("plugin", [Message(e["kafka_key"], orjson.dumps(e)) for e in plugins])
    counts["plugin"] = len(plugins)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2, help="binary ingestor processes (as serve runs them)")
    parser.add_argument("--backend", choices=("sqlite", "opensearch"), default="sqlite",
                        help="index backend; the event log stays embedded so only indexing differs")
    parser.add_argument("--opensearch-url", default="http://127.0.0.1:9200")
    parser.add_argument("--binary-indices", choices=("hex", "single"), default="hex",
                        help="OpenSearch binary2 layout (setting opensearch_binary_indices)")
    args = parser.parse_args()
    opensearch = args.backend == "opensearch"
    # a fresh partition so a run never meets another run's (or a test's) documents
    backend = ({"index_backend": "opensearch", "opensearch_url": args.opensearch_url,
                "opensearch_binary_indices": args.binary_indices,
                "partition": f"bench{uuid.uuid4().hex[:10]}"} if opensearch else {})
    gc.disable()  # the generator builds many small dicts; collection pauses would blur the figures
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), sources=SOURCES, ingest_batch_size=args.batch,
                                 prometheus_port=0, **backend)
        services = build_services(settings)
        gen = EventGenerator(seed=7)
        started = time.perf_counter()
        counts = publish(services, gen, args.events)
        publish_s = time.perf_counter() - started
        print(f"published {counts} in {publish_s:.0f} s", flush=True)

        group = build_ingestor(services, "binary").group
        stop = threading.Event()
        runner = threading.Thread(target=run_processes, args=(settings, "binary", args.processes, stop))
        started = time.perf_counter()
        runner.start()
        window_start, window_done, rates = started, 0, []
        while (lag := services.event_log.lag(group, "binary")) > 0:
            time.sleep(0.5)
            now, done = time.perf_counter(), counts["binary"] - lag
            if now - window_start >= 10:
                rates.append((done - window_done) / (now - window_start))
                print(f"  {done:,} events, {rates[-1]:,.0f}/s", flush=True)
                window_start, window_done = now, done
        binary_s = time.perf_counter() - started
        stop.set()
        runner.join()
        for model in ("status", "plugin"):
            other = build_ingestor(services, model)
            while other.run_once(wait=0):
                pass
        if opensearch:
            index_bytes = _opensearch_bytes_and_drop(services.index, settings.partition)
        else:
            index_bytes = sum(p.stat().st_size for p in Path(tmp).glob("index.sqlite3*"))
        services.close()

    report(
        "ingest_opensearch" if opensearch else "ingest",
        {
            "backend": args.backend,
            **({"binary_indices": args.binary_indices, "shards": settings.opensearch_shards} if opensearch else {}),
            "binary_events": counts["binary"],
            "status_events": counts["status"],
            "plugin_events": counts["plugin"],
            "batch_size": args.batch,
            "ingestor_processes": args.processes,
            "binary_events_per_s": counts["binary"] / binary_s,
            "slowest_10s_window_per_s": min(rates) if rates else counts["binary"] / binary_s,
            "index_mb": index_bytes / 1e6,
            "index_mb_per_million_events": index_bytes / 1e6 / (counts["binary"] / 1e6),
        },
        targets={"binary_events_per_s": ">= 2000 on one OpenSearch node" if opensearch
                 else ">= 5000 sustained over 1,000,000"},
    )


def _opensearch_bytes_and_drop(index, partition: str) -> int:
    """Store size of the run's indices (after a refresh), then delete them and their templates."""
    client = index.client
    pattern = f"azul.o.{partition}.*,azul.x.{partition}.*"
    client.indices.refresh(index=pattern, allow_no_indices=True)
    client.indices.flush(index=pattern, allow_no_indices=True)
    stats = client.indices.stats(index=pattern, metric="store")
    size = int(stats["_all"]["total"]["store"]["size_in_bytes"])
    client.indices.delete(index=pattern, ignore_unavailable=True, allow_no_indices=True, expand_wildcards="all")
    for template in client.indices.get_index_template(name=f"azul.{partition}.*").get("index_templates", []):
        client.indices.delete_index_template(name=template["name"])
    return size


if __name__ == "__main__":
    main()
