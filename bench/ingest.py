"""Ingest throughput: realistic binary events (with status and plugin events alongside) published to
the event log, then indexed by the real ingestors, as ``serve`` runs them. Prints and writes
bench/results/ingest.json with events/s and the index size per million events.

Target on this machine, embedded SQLite: >= 5,000 binary events/s sustained over 1,000,000 events.

Usage: .venv/bin/python -m bench.ingest [--events 1000000] [--batch 500]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import threading
import time
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
    args = parser.parse_args()
    gc.disable()  # the generator builds many small dicts; collection pauses would blur the figures
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), sources=SOURCES, ingest_batch_size=args.batch,
                                 prometheus_port=0)
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
        index_bytes = sum(p.stat().st_size for p in Path(tmp).glob("index.sqlite3*"))
        services.close()

    report(
        "ingest",
        {
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
        targets={"binary_events_per_s": ">= 5000 sustained over 1,000,000"},
    )


if __name__ == "__main__":
    main()
