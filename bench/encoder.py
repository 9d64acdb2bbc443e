"""How fast the shared encoder turns binary events into documents.

Budget (DESIGN.md): ingest must sustain >= 5,000 binary events/s on 2 cores including the index
write, so encoding gets <= 100 µs per typical event (30 features). The events are generated first
and turned into the bytes the event log holds, then the timed loop does what an ingestor does per
event: ``orjson.loads`` and ``Encoder.encode_binary`` (both reported; the parse is the ingestor's
cost, not the encoder's).

Usage::

    .venv/bin/python -m bench.encoder [--events 100000] [--seed 1]

Prints events/s and writes ``bench/results/encoder.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from pathlib import Path

import orjson

from azul_metastore.index.encoder import Encoder
from azul_metastore.settings import Settings
from bench.generator import SOURCES, EventGenerator

RESULTS = Path(__file__).resolve().parent / "results" / "encoder.json"


def run(n: int, seed: int, rounds: int = 3) -> dict[str, object]:
    gc.disable()  # generation keeps every event alive; collections would only measure the heap
    generator = EventGenerator(seed=seed)
    started = time.perf_counter()
    events = list(generator.binaries(n))
    generated_per_s = n / (time.perf_counter() - started)
    blobs = [orjson.dumps(e) for e in events]
    del events
    gc.enable()
    gc.collect()
    gc.freeze()  # the corpus is long-lived; keep the collector on the objects the loop makes

    encoder = Encoder(Settings(sources=SOURCES))
    encode_rates, total_rates = [], []
    feature_counts = []
    for _ in range(rounds):
        parsed = [orjson.loads(b) for b in blobs[: min(n, 20_000)]]  # warm caches
        for event in parsed:
            encoder.encode_binary(event)
        encode_time = parse_time = 0.0
        clock = time.perf_counter
        for blob in blobs:
            t0 = clock()
            event = orjson.loads(blob)
            t1 = clock()
            encoder.encode_binary(event)
            t2 = clock()
            parse_time += t1 - t0
            encode_time += t2 - t1
        encode_rates.append(n / encode_time)
        total_rates.append(n / (encode_time + parse_time))
    feature_counts = [len(orjson.loads(b)["entity"].get("features", [])) for b in blobs[:5000]]
    encode_rate = statistics.median(encode_rates)
    return {
        "events": n,
        "seed": seed,
        "rounds": rounds,
        "median_features": statistics.median(feature_counts),
        "mean_event_bytes": round(sum(map(len, blobs)) / n),
        "encode_events_per_s": round(encode_rate),
        "encode_us_per_event": round(1e6 / encode_rate, 1),
        "parse_and_encode_events_per_s": round(statistics.median(total_rates)),
        "generate_events_per_s": round(generated_per_s),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.events, args.seed)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"encoder: {result['encode_events_per_s']:,} binary events/s ({result['encode_us_per_event']} µs/event, "
        f"median {result['median_features']} features); with orjson parse: "
        f"{result['parse_and_encode_events_per_s']:,}/s; generator: {result['generate_events_per_s']:,}/s"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
