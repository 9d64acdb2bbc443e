"""Read latency of the embedded index and of an OpenSearch partition holding the same binaries,
measured side by side: one process, the same queries (``bench.query.queries``), the two backends
taking turns in blocks. Prints p50/p99 of each and their ratio; writes
bench/results/query_side_by_side.json.

Why: the target of the scale-out issue is OpenSearch's p99 within 2x of the embedded one, and this
machine's speed drifts by more than that within an hour. Runs made one after the other measured the
drift as much as the backends (three embedded runs of one hour gave a 12-hash p99 of 2.6, 3.8 and
11.9 ms). Taking turns in blocks of ``--block`` queries, the first backend alternating from block to
block, puts both under the same conditions; the ratio is then about the backends.

A p99 of 200 queries is their second slowest, so it moves a lot from run to run (the 12-hash ratio
read 1.9x and 2.5x in two runs of one build). Each ratio is printed with a 95 % bootstrap interval
(``ratio_interval``), and ``--kinds`` with a larger ``--queries`` measures the kinds near their
target on enough queries to tell.

Usage::

    .venv/bin/python -m bench.query --binaries N --keep EMB                  # embedded index
    .venv/bin/python -m bench.query --binaries N --keep OS --backend opensearch --binary-indices single
    .venv/bin/python -m bench.query_side_by_side --embedded EMB --opensearch OS [--queries 200]
        [--kinds find_12_hashes,nearby]

Both folders must hold indices built by ``bench.query`` with the same ``--binaries`` and ``--seed``
(their saved query samples are compared), so each query asks both the same thing about the same data.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azul_metastore.heap import freeze_start_up
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.security import Access, SecurityPolicy
from azul_metastore.settings import load_settings
from bench._report import percentile, report
from bench.generator import SOURCES
from bench.query import queries

BACKENDS = ("embedded", "opensearch")
#: queries of each kind made on each backend before any is timed (JIT, caches, the TLSH table)
WARM_UP = 10
#: resamples behind a ratio's interval
RESAMPLES = 2000


def _samples(folder: Path) -> dict[str, Any]:
    """The query samples an index was built with, without its build time (not part of the data)."""
    saved = folder / "query-samples.json"
    if not saved.exists():
        raise SystemExit(f"{folder} holds no index kept by bench.query --keep (no {saved.name})")
    samples = json.loads(saved.read_text())
    samples.pop("build_s", None)
    return samples


def _open(args: argparse.Namespace) -> tuple[dict[str, MetadataStore], Access]:
    """Both stores, opened on the kept indices (refused when either is missing or empty)."""
    named = args.opensearch / "opensearch-partition.txt"
    if not named.exists():
        raise SystemExit(f"{args.opensearch} holds no OpenSearch partition kept by bench.query --keep")
    settings = load_settings(data_dir=args.opensearch, sources=SOURCES, prometheus_port=0,
                             index_backend="opensearch", opensearch_url=args.opensearch_url,
                             opensearch_binary_indices=args.binary_indices, partition=named.read_text().strip())
    from azul_metastore.app import build_opensearch_index

    stores: dict[str, MetadataStore] = {"embedded": SqliteMetadataStore(args.embedded / "index.sqlite"),
                                        "opensearch": build_opensearch_index(settings)}
    for name, store in stores.items():
        if not store.count(None, Access.system_access(), require_submission=False):
            raise SystemExit(f"the {name} index is empty: build it again with bench.query --keep")
    policy = SecurityPolicy.from_settings(settings)
    return stores, Access.for_user(policy, "bench", sorted(policy.vocab.all_labels))


def side_by_side(fns: dict[str, Callable[[int], Any]], count: int, block: int) -> dict[str, list[float]]:
    """Milliseconds of queries 0..count-1 on each backend, in blocks of ``block`` queries per
    backend, the backend going first alternating from one block to the next."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for number, start in enumerate(range(0, count, block)):
        order = BACKENDS if number % 2 == 0 else BACKENDS[::-1]
        for name in order:
            fn = fns[name]
            for i in range(start, min(count, start + block)):
                started = time.perf_counter()
                fn(i)
                times[name].append((time.perf_counter() - started) * 1000)
    return times


def ratio_interval(times: dict[str, list[float]], pct: float = 99, *, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of p``pct`` OpenSearch / p``pct`` embedded.

    Each resample draws query numbers with replacement and takes both backends' times of those
    queries, so a resample compares the backends on the same queries as the run did."""
    emb, ose = times["embedded"], times["opensearch"]
    count = min(len(emb), len(ose))
    rng = random.Random(seed)
    ratios = []
    for _ in range(RESAMPLES):
        picked = [rng.randrange(count) for _ in range(count)]
        low = percentile([emb[i] for i in picked], pct)
        ratios.append(percentile([ose[i] for i in picked], pct) / low if low else float("inf"))
    return percentile(ratios, 2.5), percentile(ratios, 97.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedded", type=Path, required=True, help="folder of a kept embedded bench.query index")
    parser.add_argument("--opensearch", type=Path, required=True,
                        help="folder naming a kept OpenSearch bench.query partition")
    parser.add_argument("--opensearch-url", default="http://127.0.0.1:9200")
    parser.add_argument("--binary-indices", choices=("hex", "single"), default="single")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind per backend")
    parser.add_argument("--block", type=int, default=10, help="queries a backend makes before the other's turn")
    parser.add_argument("--kinds", help="comma-separated query kinds to run (default: all)")
    args = parser.parse_args()
    samples = _samples(args.embedded)
    if _samples(args.opensearch) != samples:
        raise SystemExit("the two indices were built from different samples: build both with the same"
                         " --binaries and --seed")
    stores, access = _open(args)
    kinds = {name: queries(store, access, samples) for name, store in stores.items()}
    chosen = args.kinds.split(",") if args.kinds else list(kinds["embedded"])
    if unknown := sorted(set(chosen) - set(kinds["embedded"])):
        raise SystemExit(f"unknown query kinds {', '.join(unknown)}; known: {', '.join(kinds['embedded'])}")
    freeze_start_up()  # as ``serve`` does once it is built (``azul_metastore.heap``)
    figures: dict[str, Any] = {"binaries": samples["binaries"], "events": samples["events"],
                               "queries_per_backend": args.queries, "block": args.block}
    targets: dict[str, str] = {}
    for kind in chosen:
        share = kinds["embedded"][kind][1]
        fns = {name: kinds[name][kind][0] for name in BACKENDS}
        for fn in fns.values():
            for i in range(WARM_UP):
                fn(i)
        times = side_by_side(fns, max(5, args.queries // share), args.block)
        p99 = {name: percentile(times[name], 99) for name in BACKENDS}
        for name in BACKENDS:
            figures[f"{kind}_{name}_p50_ms"] = round(percentile(times[name], 50), 1)
            figures[f"{kind}_{name}_p99_ms"] = round(p99[name], 1)
        figures[f"{kind}_p99_ratio"] = round(p99["opensearch"] / p99["embedded"], 2)
        low, high = ratio_interval(times)
        figures[f"{kind}_p99_ratio_95_low"], figures[f"{kind}_p99_ratio_95_high"] = round(low, 2), round(high, 2)
        targets[f"{kind}_p99_ratio"] = "<= 2"
        print(f"  {kind}: p99 {p99['embedded']:,.1f} ms embedded, {p99['opensearch']:,.1f} ms OpenSearch"
              f" ({figures[f'{kind}_p99_ratio']}x, 95 % interval {low:.2f}-{high:.2f}x)", flush=True)
    report("query_side_by_side", figures, targets)
    for store in stores.values():
        store.close()


if __name__ == "__main__":
    main()
