"""Age-off and purge rates on a realistic index: documents removed per second.

Builds an embedded index from ``--binaries`` realistic binary events (bench.generator; indexed in
process, not timed), then:

* age-off: gives the ``honeypot`` and ``partners`` sources a 1-day retention and moves the clock so
  the older half of their submissions expires; one pass (submissions, orphans with their results,
  stream checks, tags, trim) is timed;
* purge of binaries: ``--purges`` random sourced binaries, each with its cascade, one after the
  other (journal, tombstones, deletes, stream checks);
* purge of an author: everything one plugin produced (a large purge).

No bytes are stored (the blob store's part is one delete per unreferenced stream; bench.content
measures storage); every stream is still checked against the index.

Usage: .venv/bin/python -m bench.lifecycle [--binaries 1000000] [--purges 200]
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from azul_metastore.app import build_services
from azul_metastore.index.port import Selector
from azul_metastore.index.timestamps import parse_timestamp
from azul_metastore.lifecycle.clock import ManualClock
from azul_metastore.lifecycle.jobs import Lifecycle
from azul_metastore.lifecycle.purge import PurgeRequest
from azul_metastore.settings import load_settings
from bench._report import report
from bench.generator import SOURCES, EventGenerator

EXPIRING = ("honeypot", "partners")


def build(services, binaries: int) -> tuple[str, str, list[str]]:
    """Index the events; returns (first, last source timestamp, sha256s of sourced binaries)."""
    gen = EventGenerator(seed=11)
    indexer = services.indexer()
    first = last = None
    sourced: list[str] = []
    for start in range(0, binaries, 5000):
        batch = [gen.binary() for _ in range(min(5000, binaries - start))]
        indexer.index("binary", batch)
        for event in batch:
            stamp = event["source"]["timestamp"]
            first = stamp if first is None or stamp < first else first
            last = stamp if last is None or stamp > last else last
            if event["action"] == "sourced":
                sourced.append(event["entity"]["sha256"])
        if start % 100_000 == 0:
            print(f"  indexed {start + len(batch):,} events", flush=True)
    return first or "", last or "", sourced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binaries", type=int, default=1_000_000, help="binary events in the index")
    parser.add_argument("--purges", type=int, default=200, help="binaries purged one by one")
    args = parser.parse_args()
    gc.disable()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), sources=SOURCES, prometheus_port=0)
        services = build_services(settings)
        started = time.perf_counter()
        first, last, sourced = build(services, args.binaries)
        print(f"built the index in {time.perf_counter() - started:.0f} s", flush=True)
        figures: dict[str, object] = {"binary_events": args.binaries}

        # --- age-off: the older half of two sources expires
        aged = {name: {**cfg, "expire_events_after": "1 days"} if name in EXPIRING else cfg
                for name, cfg in SOURCES.items()}
        life = Lifecycle(services)
        life.services.settings = load_settings(data_dir=Path(tmp), sources=aged, prometheus_port=0)
        t0, t1 = parse_timestamp(first), parse_timestamp(last)
        life.clock = ManualClock(at=t0 + (t1 - t0) / 2 + timedelta(days=1))
        docs_before = sum(services.index.count_selected(Selector(source_name=s, source_timestamp_before=last))[0]
                          for s in EXPIRING)
        started = time.perf_counter()
        result = life.age_off().run()
        age_s = time.perf_counter() - started
        print("\n".join(result.lines()), flush=True)
        figures.update({
            "age_off_submission_docs_in_expiring_sources": docs_before,
            "age_off_submission_docs_deleted": result.documents,
            "age_off_orphan_binaries_removed": result.orphans,
            "age_off_seconds": age_s,
            "age_off_docs_per_s": result.documents / age_s if age_s else 0.0,
        })

        # --- purge binaries one by one, then one author
        life.services.settings = settings
        life.clock = ManualClock()
        purger = life.purger()
        rng = random.Random(5)
        system = life.system
        alive = [s for s in rng.sample(sourced, min(len(sourced), args.purges * 3))
                 if services.index.documents([s], system, limit=1)][:args.purges]
        purged_docs = 0
        started = time.perf_counter()
        for sha256 in alive:
            try:
                purged_docs += purger.purge(PurgeRequest("binary", sha256), "bench").events_purged
            except Exception as exc:  # a binary an earlier purge's cascade already removed
                print(f"  skipped {sha256[:12]}: {exc}")
        purge_s = time.perf_counter() - started
        request = PurgeRequest("author", "plugin.strings.1.0")
        matched = purger.simulate(request).events
        started = time.perf_counter()
        author = purger.purge(request, "bench") if matched else None
        author_s = time.perf_counter() - started
        figures.update({
            "purged_binaries": len(alive),
            "purge_binary_docs": purged_docs,
            "purge_binary_mean_ms": purge_s / max(1, len(alive)) * 1000,
            "purge_binary_docs_per_s": purged_docs / purge_s if purge_s else 0.0,
            "purge_author_docs": author.events_purged if author else 0,
            "purge_author_seconds": author_s,
            "purge_author_docs_per_s": (author.events_purged / author_s) if author and author_s else 0.0,
        })
        services.close()
    report("lifecycle", figures)


if __name__ == "__main__":
    main()
