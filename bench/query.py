"""Read latency of the binaries API's services on the embedded index: hash look-ups, finds by
feature value, a two-feature pivot, the summary of a binary with 10,000 children, nearby, and TLSH
top-20. Prints p50/p99 and writes bench/results/query.json.

The index is built from ``bench/generator.py`` events written straight through the shared encoder
into the SQLite index (no event log, no HTTP), plus one binary with 10,000 extracted children. Reads
go through the ``azul_metastore.search`` services with a non-system user's access, as a request would
(HTTP adds about a millisecond).

Targets on embedded SQLite: hash look-ups p99 < 20 ms; feature-value find first page p99 < 200 ms;
summary of the 10,000-children binary < 1 s; TLSH top-20 over 1,000,000 binaries < 2 s.

Usage: .venv/bin/python -m bench.query [--binaries 1000000] [--queries 50] [--keep DIR]

With ``--keep DIR`` the index stays in DIR and later runs with the same DIR skip the build.

``--backend opensearch`` builds the same index in a fresh partition of an OpenSearch node
(``--opensearch-url``; deleted afterwards unless ``--keep DIR``, which names the partition in DIR so a
later run reuses it) and writes
bench/results/query_opensearch.json beside the embedded query.json. Target: p99 within 2x of the
embedded figures, compared by ``bench.query_side_by_side`` on two kept indices of the same binaries
(runs one after the other compare this machine's drift as much as the backends).
``--binary-indices single`` builds it in the one-index layout; shards come from
``METASTORE_OPENSEARCH_SHARDS`` (the 1,000,000-binary figures in bench/HISTORY.md: single, 1 or 2 shards).
"""

from __future__ import annotations

import argparse
import copy
import gc
import hashlib
import json
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azul_metastore.heap import freeze_start_up
from azul_metastore.index.encoder import Encoder
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.sqlite import SqliteMetadataStore
from azul_metastore.search import find, lineage, similarity, summary
from azul_metastore.security import Access, SecurityPolicy
from azul_metastore.settings import load_settings
from bench._report import percentile, report
from bench.generator import SOURCES, EventGenerator

CHILDREN = 10_000
BATCH = 2000


def _child_events(parent: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """``n`` extracted children of a sourced event (tracking fields as intake would stamp them)."""
    node = parent["source"]["path"][-1]
    out = []
    for i in range(n):
        sha = hashlib.sha256(b"child-%d" % i).hexdigest()
        event = copy.deepcopy(parent)
        child_node = {"sha256": sha, "action": "extracted", "timestamp": parent["timestamp"],
                      "author": {"name": "unzip", "category": "plugin", "version": "3.0"},
                      "relationship": {"action": "extracted", "label": "within"}, "filename": f"m{i}.bin"}
        event.update(action="extracted", author=child_node["author"], kafka_key=f"child-{i}")
        event["source"]["path"] = [node, child_node]
        event["entity"] = {"sha256": sha, "md5": hashlib.md5(sha.encode()).hexdigest(), "size": 100 + i,
                           "features": [{"name": "filename", "type": "filepath", "value": f"m{i}.bin"}],
                           "datastreams": [{"sha256": sha, "label": "content", "size": 100 + i}]}
        event["track_authors"] = [*parent["track_authors"], "plugin.unzip.3.0"]
        event["track_links"] = [f"{node['sha256']}.{sha}.plugin.unzip.3.0"]
        out.append(event)
    return out


def build(store: MetadataStore, encoder: Encoder, binaries: int, seed: int) -> dict[str, Any]:
    """Fill the index with about ``binaries`` binaries; return samples for the queries."""
    gen = EventGenerator(seed=seed)
    rng = random.Random(seed)
    seen: set[str] = set()
    samples: dict[str, Any] = {"hashes": [], "features": [], "pairs": [], "tlsh": [], "nested": []}
    parent_event = None
    started = time.perf_counter()
    events = 0
    while len(seen) < binaries:
        batch = [gen.binary() for _ in range(BATCH)]
        docs = []
        for event in batch:
            entity = event["entity"]
            seen.add(entity["sha256"])
            docs += encoder.encode_binary(event).documents
            if parent_event is None and event["action"] == "sourced":
                parent_event = event
            if rng.random() < 0.002:
                samples["hashes"].append(entity[rng.choice(("sha256", "md5", "sha1"))]
                                         if entity.get("sha1") else entity["sha256"])
                if entity.get("tlsh"):
                    samples["tlsh"].append(entity["tlsh"])
                if len(event["source"]["path"]) >= 3:
                    samples["nested"].append(entity["sha256"])
                values = [(f["name"], f["value"]) for f in entity.get("features") or () if f["type"] == "string"]
                if len(values) >= 2:
                    samples["features"].append(values[0])
                    samples["pairs"].append((values[0], values[-1]))
        store.write(docs)
        events += len(batch)
        if events % 100_000 < BATCH:
            print(f"  {len(seen):,} binaries from {events:,} events, {time.perf_counter() - started:,.0f} s",
                  flush=True)
    assert parent_event is not None
    children = _child_events(parent_event, CHILDREN)
    for start in range(0, len(children), BATCH):
        docs = []
        for event in children[start:start + BATCH]:
            docs += encoder.encode_binary(event).documents
        store.write(docs)
    samples["hub"] = parent_event["entity"]["sha256"]
    samples["events"] = events + CHILDREN
    samples["binaries"] = len(seen) + CHILDREN
    samples["build_s"] = time.perf_counter() - started
    return samples


def queries(store: MetadataStore, access: Access,
            samples: dict[str, Any]) -> dict[str, tuple[Callable[[int], Any], int]]:
    """The measured queries by name: ``fn(i)`` makes the i-th query of its kind (the same query for
    the same i on every index built from the same samples) and the share of the run's query count
    it gets (summary and TLSH, the slow ones, a fifth)."""
    hashes = samples["hashes"]
    missing = [hashlib.sha256(b"missing-%d" % i).hexdigest() for i in range(2)]

    def by_hashes(i: int) -> None:
        picked = [*random.Random(i).sample(hashes, 10), *missing]
        found = find.find(store, access, hashes=picked)
        assert sum(item.exists for item in found.items) >= 10

    def by_feature(i: int) -> None:
        name, value = samples["features"][i % len(samples["features"])]
        found = find.find(store, access, term=f'features_map.{name}:"{value}"')
        assert found.items

    def pivot(i: int) -> None:
        (n1, v1), (n2, v2) = samples["pairs"][i % len(samples["pairs"])]
        assert find.find(store, access, term=f'features_map.{n1}:"{v1}" AND features_map.{n2}:"{v2}"').items

    def hub_summary(i: int) -> None:
        found = summary.summary(store, samples["hub"], access)
        assert len(found.children) == 100

    def nearby(i: int) -> None:
        lineage.nearby(store, samples["nested"][i % len(samples["nested"])], access)

    def tlsh_top20(i: int) -> None:
        assert len(similarity.similar_tlsh(store, samples["tlsh"][i % len(samples["tlsh"])], access).matches) == 20

    return {"find_12_hashes": (by_hashes, 1), "find_feature_value": (by_feature, 1), "find_two_features": (pivot, 1),
            "summary_10000_children": (hub_summary, 5), "nearby": (nearby, 1), "tlsh_top20": (tlsh_top20, 5)}


def timed(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
    """(p50, p99) in milliseconds of ``fn(i)`` for i in range(n), after one warm-up call."""
    fn(0)
    times = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 50), percentile(times, 99)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binaries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the index in this folder (OpenSearch: a partition named"
                        " in it) and keep it; a later run with the same folder reuses it")
    parser.add_argument("--backend", choices=("sqlite", "opensearch"), default="sqlite")
    parser.add_argument("--opensearch-url", default="http://127.0.0.1:9200")
    parser.add_argument("--binary-indices", choices=("hex", "single"), default="hex",
                        help="OpenSearch binary2 layout (setting opensearch_binary_indices)")
    args = parser.parse_args()
    opensearch = args.backend == "opensearch"
    gc.disable()
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    backend = ({"index_backend": "opensearch", "opensearch_url": args.opensearch_url,
                "opensearch_binary_indices": args.binary_indices, "partition": _partition(folder)}
               if opensearch else {})
    settings = load_settings(data_dir=folder, sources=SOURCES, prometheus_port=0, **backend)
    policy = SecurityPolicy.from_settings(settings)
    store: MetadataStore
    if opensearch:
        from azul_metastore.app import build_opensearch_index

        store = build_opensearch_index(settings)
    else:
        store = SqliteMetadataStore(folder / "index.sqlite")
    saved = folder / "query-samples.json"
    if args.keep and saved.exists():
        samples = json.loads(saved.read_text())  # an index kept by an earlier run with --keep
        if not store.count(None, Access.system_access(), require_submission=False):
            if opensearch:
                _drop_partition(store, settings.partition)  # made afresh by opening it: leave nothing behind
            raise SystemExit(f"{args.keep} names an index that is empty or gone (an OpenSearch node's data is not"
                             " kept across `services down`); delete the folder to build it again")
    else:
        samples = build(store, Encoder(settings, policy), args.binaries, args.seed)
        saved.write_text(json.dumps(samples))
    if opensearch:
        store.refresh()
    gc.enable()
    freeze_start_up()  # as ``serve`` does once it is built (``azul_metastore.heap``)
    print(f"built {samples['binaries']:,} binaries ({samples['events']:,} events) in {samples['build_s']:,.0f} s")
    access = Access.for_user(policy, "bench", sorted(policy.vocab.all_labels))
    n = args.queries
    figures: dict[str, Any] = {"backend": args.backend,
                               **({"binary_indices": args.binary_indices, "shards": settings.opensearch_shards}
                                  if opensearch else {}),
                               "binaries": samples["binaries"], "events": samples["events"],
                               "build_s": round(samples["build_s"], 1)}
    kinds = queries(store, access, samples)
    started = time.perf_counter()
    kinds["tlsh_top20"][0](0)
    figures["tlsh_first_ms (loads the hash table)"] = round((time.perf_counter() - started) * 1000, 1)
    for name, (fn, share) in kinds.items():
        p50, p99 = timed(fn, max(5, n // share))
        figures[f"{name}_p50_ms"] = round(p50, 1)
        figures[f"{name}_p99_ms"] = round(p99, 1)
        print(f"  {name}: p50 {p50:,.1f} ms, p99 {p99:,.1f} ms", flush=True)
    report("query_opensearch" if opensearch else "query", figures,
           {"find_12_hashes_p99_ms": "< 20", "find_feature_value_p99_ms": "< 200",
            "summary_10000_children_p99_ms": "< 1000", "tlsh_top20_p99_ms": "< 2000"})
    if opensearch and not args.keep:
        _drop_partition(store, settings.partition)
    store.close()
    tmp.cleanup()


def _partition(folder: Path) -> str:
    """The OpenSearch partition of a run: a fresh one, named in ``folder`` so that a run with
    ``--keep`` and the same folder finds the partition an earlier run built."""
    named = folder / "opensearch-partition.txt"
    if not named.exists():
        named.write_text(f"bench{uuid.uuid4().hex[:10]}")
    return named.read_text().strip()


def _drop_partition(store: Any, partition: str) -> None:
    """Delete the run's OpenSearch indices and templates so benchmark runs do not pile up."""
    client = store.client
    client.indices.delete(index=f"azul.o.{partition}.*,azul.x.{partition}.*", ignore_unavailable=True,
                          allow_no_indices=True, expand_wildcards="all")
    for template in client.indices.get_index_template(name=f"azul.{partition}.*").get("index_templates", []):
        client.indices.delete_index_template(name=template["name"])


if __name__ == "__main__":
    main()
