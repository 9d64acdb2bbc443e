"""Event log throughput: append in batches of 500 and consume through a consumer group, with
realistic 1-2 KB binary events. Targets (2 cores): >= 20,000 events/s each way.

Usage: .venv/bin/python -m bench.event_log [--events 200000] [--batch 500]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import tempfile
import time
from pathlib import Path

import orjson

from azul_metastore.events.port import Message
from azul_metastore.events.sqlite import SqliteEventLog
from bench._report import percentile, report


def realistic_event(i: int, rng: random.Random) -> bytes:
    sha = hashlib.sha256(str(i).encode()).hexdigest()
    features = [{"name": f"feature_{rng.randint(0, 40)}", "type": "string", "value": f"value-{rng.random():.12f}"}
                for _ in range(rng.randint(5, 25))]
    event = {
        "model_version": 6, "kafka_key": hashlib.md5(sha.encode()).hexdigest(),
        "timestamp": "2024-05-01T12:00:00Z",
        "author": {"name": "plugin-x", "category": "plugin", "version": "1.2.3"},
        "action": "enriched",
        "source": {"name": "samples", "timestamp": "2024-05-01T11:00:00Z", "references": {"user": "bob"},
                   "path": [{"sha256": sha, "action": "sourced", "timestamp": "2024-05-01T11:00:00Z",
                             "author": {"name": "bob", "category": "user"}}]},
        "entity": {"sha256": sha, "md5": sha[:32], "sha1": sha[:40], "size": rng.randint(1000, 10**7),
                   "features": features},
        "track_source_references": "samples.0123456789abcdef0123456789abcdef",
        "track_authors": ["user.bob.", "plugin.plugin-x.1.2.3"],
    }
    return orjson.dumps(event)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(1)
    pool = [realistic_event(i, rng) for i in range(5000)]
    sizes = [len(p) for p in pool]

    with tempfile.TemporaryDirectory() as tmp:
        log = SqliteEventLog(Path(tmp) / "events.sqlite3")
        append_lat = []
        started = time.perf_counter()
        for start in range(0, args.events, args.batch):
            batch = [Message(str(start + i), pool[(start + i) % len(pool)]) for i in range(args.batch)]
            t = time.perf_counter()
            log.append("binary", batch)
            append_lat.append((time.perf_counter() - t) * 1000)
        append_s = time.perf_counter() - started

        consume_lat = []
        consumed = 0
        started = time.perf_counter()
        while consumed < args.events:
            t = time.perf_counter()
            batch = log.fetch("bench", ["binary"], args.batch, 0, consumer="bench")
            for record in batch.records:
                _ = record.value
            log.commit(batch)
            consume_lat.append((time.perf_counter() - t) * 1000)
            consumed += len(batch)
        consume_s = time.perf_counter() - started
        db_mb = (Path(tmp) / "events.sqlite3").stat().st_size / 1e6
        log.close()

    report(
        "event_log",
        {
            "events": args.events,
            "batch_size": args.batch,
            "mean_event_bytes": round(sum(sizes) / len(sizes)),
            "append_events_per_s": args.events / append_s,
            "append_batch_p50_ms": percentile(append_lat, 50),
            "append_batch_p99_ms": percentile(append_lat, 99),
            "consume_events_per_s": consumed / consume_s,
            "consume_batch_p50_ms": percentile(consume_lat, 50),
            "consume_batch_p99_ms": percentile(consume_lat, 99),
            "database_mb": db_mb,
        },
        targets={"append_events_per_s": ">= 20000", "consume_events_per_s": ">= 20000"},
    )


if __name__ == "__main__":
    main()
