"""What the shared suites cannot reach on the scale-out adapters: S3 multipart uploads (the suite's
files are smaller than S3's 5 MiB minimum part), Kafka handing a topic to another process of the
group, and the composition root choosing both from settings."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path

import pytest

from azul_metastore.blobs.s3 import MIN_PART, S3BlobStore, new_client
from azul_metastore.errors import InvalidInput
from azul_metastore.events.port import Message


@pytest.fixture
def s3_store(s3_endpoint: dict[str, str]) -> S3BlobStore:
    client = new_client(
        endpoint_url=s3_endpoint["endpoint_url"],
        access_key=s3_endpoint["aws_access_key_id"],
        secret_key=s3_endpoint["aws_secret_access_key"],
        region=s3_endpoint["region_name"],
    )
    return S3BlobStore(
        client, "metastore-suite", f"multipart-{uuid.uuid4().hex}", part_size=MIN_PART, create_bucket=True
    )


def _upload(store: S3BlobStore, data: bytes, expected: str | None) -> str:
    writer = store.open_writer("samples", "content", expected)
    for i in range(0, len(data), 1_000_000):
        writer.write(data[i : i + 1_000_000])
    return writer.commit()[0]


def _leftovers(store: S3BlobStore) -> list[str]:
    keys = [o["Key"] for o in store._list(store.prefix) if "/tmp/" in o["Key"] or "/locks/" in o["Key"]]
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix).get("Uploads", [])
    return keys + [u["Key"] for u in uploads]


@pytest.mark.s3
@pytest.mark.parametrize("give_expected", [False, True], ids=["tmp-then-copy", "straight-to-object"])
def test_s3_multipart_upload_and_ranged_read(s3_store: S3BlobStore, give_expected: bool) -> None:
    data = os.urandom(2 * MIN_PART + 123_457)  # three parts
    sha = hashlib.sha256(data).hexdigest()
    assert _upload(s3_store, data, sha if give_expected else None) == sha
    info = s3_store.head("samples", "content", sha)
    assert info is not None and info.size == len(data)
    edge = MIN_PART - 10  # a range across the first part boundary
    assert b"".join(s3_store.open_range("samples", "content", sha, edge, edge + 20)) == data[edge : edge + 20]
    assert b"".join(s3_store.open_range("samples", "content", sha)) == data
    assert _leftovers(s3_store) == []


@pytest.mark.s3
def test_s3_multipart_mismatch_leaves_nothing(s3_store: S3BlobStore) -> None:
    data = os.urandom(MIN_PART + 10)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(InvalidInput):
        _upload(s3_store, data, wrong)
    assert s3_store.head("samples", "content", wrong) is None
    assert s3_store._head(s3_store._object_key(wrong)) is None
    assert list(s3_store.iter_refs()) == [] and _leftovers(s3_store) == []


@pytest.mark.kafka
def test_kafka_topic_moves_to_another_process_with_its_uncommitted_records(kafka_bootstrap: str) -> None:
    from azul_metastore.events.kafka import KafkaEventLog

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    first = KafkaEventLog(kafka_bootstrap, prefix, "suite", session_timeout_seconds=6)
    second = KafkaEventLog(kafka_bootstrap, prefix, "suite", session_timeout_seconds=6)
    try:
        first.append("t", [Message(f"k{i}", b"{}") for i in range(5)])
        done = first.fetch("g", ["t"], 2, 0, consumer="w")
        first.commit(done)
        assert [r.offset for r in first.fetch("g", ["t"], 10, 0, consumer="w").records] == [2, 3, 4]
        # the second process joins the group but the topic's one partition stays with the first
        assert len(second.fetch("g", ["t"], 10, 1.0, consumer="w")) == 0
        first.close()  # leaves the group without committing: the topic moves with offsets 2-4 undone
        taken = second.fetch("g", ["t"], 10, 20.0, consumer="w")
        assert [r.offset for r in taken.records] == [2, 3, 4]
        second.commit(taken)
        assert second.lag("g", "t") == 0
    finally:
        first.close()
        second.close()


@pytest.mark.kafka
@pytest.mark.s3
def test_settings_choose_kafka_and_s3(tmp_path: Path, kafka_bootstrap: str, s3_endpoint: dict[str, str]) -> None:
    from azul_metastore.app import build_services
    from azul_metastore.settings import load_settings

    settings = load_settings(
        data_dir=tmp_path,
        events_backend="kafka",
        blob_backend="s3",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=f"test-{uuid.uuid4().hex[:12]}",
        s3_endpoint_url=s3_endpoint["endpoint_url"],
        s3_access_key=s3_endpoint["aws_access_key_id"],
        s3_secret_key=s3_endpoint["aws_secret_access_key"],
        s3_bucket="metastore-settings-test",
        auth_open=True,
    )
    services = build_services(settings)
    try:
        assert type(services.event_log).__name__ == "KafkaEventLog"
        assert type(services.blobs).__name__ == "S3BlobStore"
        assert services.event_log.append("status", [Message("k", b"{}")]) == [0]
        writer = services.blobs.open_writer("samples", "content")
        writer.write(b"bytes")
        sha, _ = writer.commit()
        assert b"".join(services.blobs.open_range("samples", "content", sha)) == b"bytes"
        services.blobs.delete("samples", "content", sha)
    finally:
        services.close()


@pytest.mark.opensearch
@pytest.mark.parametrize("force", [False, True], ids=["start-up", "force-update-templates"])
def test_a_partition_from_an_older_incompatible_template_is_refused_clearly(opensearch_url: str, force: bool) -> None:
    from opensearchpy import OpenSearch

    from azul_metastore.errors import ConfigError
    from azul_metastore.index.opensearch.templates import UPGRADABLE_FROM, IndexNames, Templates

    client = OpenSearch(opensearch_url)
    names = IndexNames(f"old{uuid.uuid4().hex[:8]}")
    templates = Templates(client, names, shards=1, replicas=0)
    old = templates.body("binary2")
    old["version"] = UPGRADABLE_FROM - 1
    client.indices.put_index_template(name=names.template("binary2"), body=old)
    try:
        with pytest.raises(ConfigError, match="cannot be upgraded in place; set METASTORE_PARTITION"):
            templates.initialise(force=force)
        # nothing was changed: the old template is still there, untouched
        kept = client.indices.get_index_template(name=names.template("binary2"))["index_templates"][0]
        assert kept["index_template"]["version"] == UPGRADABLE_FROM - 1
    finally:
        client.indices.delete_index_template(name=names.template("binary2"), ignore=404)
        client.indices.delete(index=",".join(names.patterns("binary2")), ignore=404, allow_no_indices=True)


@pytest.mark.opensearch
@pytest.mark.parametrize("force", [False, True], ids=["start-up", "force-update-templates"])
def test_a_partition_built_in_one_binary_layout_is_refused_in_the_other(opensearch_url: str, force: bool) -> None:
    from opensearchpy import OpenSearch

    from azul_metastore.errors import ConfigError
    from azul_metastore.index.opensearch.templates import IndexNames, Templates

    client = OpenSearch(opensearch_url)
    partition = f"lay{uuid.uuid4().hex[:8]}"
    hexed, single = IndexNames(partition, "hex"), IndexNames(partition, "single")
    try:
        Templates(client, single, shards=1, replicas=0).initialise()
        assert Templates(client, single, shards=1, replicas=0).initialise(force=force) == (
            ["binary2", "status", "plugin", "annotation", "tombstone"] if force else [])
        with pytest.raises(ConfigError, match=r"binary2 documents in the 'single' layout, not 'hex'.*"
                           r"METASTORE_OPENSEARCH_BINARY_INDICES=single"):
            Templates(client, hexed, shards=1, replicas=0).initialise(force=force)
        kept = client.indices.get_index_template(name=single.template("binary2"))["index_templates"][0]
        assert kept["index_template"]["_meta"] == {"binary_layout": "single"}
        assert single.binaries(["ab" * 32, "cd" * 32]) == f"azul.x.{partition}.binary2*"
        assert hexed.binaries(["ab" * 32, "Cd" * 32]) == f"azul.x.{partition}.binary2.a*,azul.x.{partition}.binary2.c*"
    finally:
        for doc_type in ("binary2", "status", "plugin", "annotation", "tombstone"):
            client.indices.delete_index_template(name=single.template(doc_type), ignore=404)
        client.indices.delete(index=f"azul.o.{partition}.*,azul.x.{partition}.*", ignore_unavailable=True,
                              allow_no_indices=True, expand_wildcards="all")


@pytest.mark.opensearch
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzipped"])
def test_answers_are_gzipped_only_when_the_settings_ask(tmp_path: Path, opensearch_url: str, compress: bool) -> None:
    from azul_metastore.index.opensearch.client import client_from_settings
    from azul_metastore.settings import load_settings

    settings = load_settings(data_dir=tmp_path, opensearch_url=opensearch_url, opensearch_compress_answers=compress)
    client = client_from_settings(settings)
    try:
        asked = client.transport.get_connection().headers.get("accept-encoding")
        assert asked == ("gzip,deflate" if compress else None)
        # the answer is read either way (gzipped ones inflated by the client)
        assert client.cluster.health()["status"] in ("green", "yellow")
        assert "hits" in client.search(index="*", body={"size": 1, "query": {"match_all": {}}})
    finally:
        client.close()



@pytest.fixture
def os_store(request: pytest.FixtureRequest, tmp_path: Path):
    from tests.support.index_data import Dataset
    from tests.support.index_stores import _opensearch

    store = _opensearch(request, tmp_path, "single", shards=2)
    store.write(Dataset(generated=20).documents)
    store.refresh()
    yield store
    store.close()


def _counted(store, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the search requests the store's (real) client sends."""
    sent = {"search": 0, "msearch": 0}
    for name in sent:
        real = getattr(store.client, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            sent[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(store.client, name, counting)
    return sent


@pytest.mark.opensearch
def test_the_searches_of_one_gather_go_to_the_node_as_one_msearch(os_store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read's answer is its own, as when sent alone; only the requests differ."""
    from azul_metastore.index.opensearch import batching
    from azul_metastore.index.opensearch.store import GATHER_THREADS
    from azul_metastore.security import Access

    system = Access.system_access()
    shas = os_store.list_binaries(None, system, None, 4).items
    assert len(shas) == 4
    alone = [os_store.identities([sha]) for sha in shas[:3]], os_store.binary_submissions(shas, system)
    sent = _counted(os_store, monkeypatch)
    # every read joins before any is sent, however slowly threads start on a busy machine
    monkeypatch.setattr(batching, "WAIT_AT_MOST", 30.0)
    *ids, rows = os_store.gather(*(lambda sha=sha: os_store.identities([sha]) for sha in shas[:3]),
                                 lambda: os_store.binary_submissions(shas, system))
    assert (ids, rows) == alone
    assert sent == {"search": 0, "msearch": 1}
    # more reads than threads: those waiting for a thread cannot join, so after a while the
    # queued searches go without them, and the gather still ends with every answer
    monkeypatch.setattr(batching, "WAIT_AT_MOST", 0.005)
    many = [lambda sha=sha: os_store.identities([sha]) for sha in shas] * (2 * GATHER_THREADS // len(shas))
    assert len(many) > GATHER_THREADS + 1
    assert os_store.gather(*many) == [os_store.identities([sha]) for sha in shas] * (len(many) // len(shas))


@pytest.mark.opensearch
def test_gathers_of_concurrent_requests_share_the_read_pool_and_each_get_their_answers(os_store) -> None:
    """As the API's request threads do: twelve gathers at once on the one pool of eight threads,
    each batch made of its own reads only, so none is handed another request's answers."""
    from concurrent.futures import ThreadPoolExecutor

    from azul_metastore.security import Access

    system = Access.system_access()
    shas = os_store.list_binaries(None, system, None, 4).items
    expected = {sha: os_store.identities([sha]) for sha in shas}
    rows = os_store.binary_submissions(shas, system)

    def request(i: int) -> bool:
        mine = shas[i % len(shas)]
        ids, other, subs = os_store.gather(lambda: os_store.identities([mine]),
                                           lambda: os_store.identities([shas[(i + 1) % len(shas)]]),
                                           lambda: os_store.binary_submissions(shas, system))
        return ids == expected[mine] and other == expected[shas[(i + 1) % len(shas)]] and subs == rows

    with ThreadPoolExecutor(12) as requests:
        assert all(requests.map(request, range(60)))


@pytest.mark.opensearch
def test_a_search_refused_within_an_msearch_raises_as_if_sent_alone(os_store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A body the node cannot parse fails the whole ``_msearch``: each search then goes alone."""
    from concurrent.futures import ThreadPoolExecutor

    from opensearchpy.exceptions import NotFoundError, RequestError

    from azul_metastore.index.opensearch import batching

    monkeypatch.setattr(batching, "WAIT_AT_MOST", 30.0)
    index = os_store.alias("binary2")
    good, bad = {"query": {"match_all": {}}}, {"query": {"no_such_query": {}}}

    def send(searches: dict[str, tuple[str, dict]]) -> tuple[int, dict[str, object]]:
        batch = batching.SearchBatch(os_store.client, len(searches))
        answers: dict[str, object] = {}

        def run(name: str) -> None:
            with batching.joined(batch):
                try:
                    answers[name] = batch.search(index=searches[name][0], body=searches[name][1])
                except Exception as exc:
                    answers[name] = exc

        with ThreadPoolExecutor(len(searches)) as threads:  # one each: all run at once
            list(threads.map(run, searches))
        return batch.sent, answers

    sent, answers = send({"good": (index, good), "bad": (index, bad), "missing": ("no-such-index-here", good)})
    assert sent == 1
    assert "hits" in answers["good"]
    assert isinstance(answers["bad"], RequestError) and answers["bad"].status_code == 400
    assert "no_such_query" in str(answers["bad"])
    assert isinstance(answers["missing"], NotFoundError)
    # without the body it cannot parse, the node answers each within the one request
    sent, answers = send({"good": (index, good), "missing": ("no-such-index-here", good)})
    assert sent == 1 and "hits" in answers["good"]
    assert isinstance(answers["missing"], NotFoundError) and answers["missing"].status_code == 404


@pytest.mark.opensearch
def test_concurrent_requests_keep_their_connections(opensearch_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The API's request threads share one client: each must not open and then drop a connection."""
    import threading

    from azul_metastore.index.opensearch.client import new_client

    client = new_client(opensearch_url)
    barrier = threading.Barrier(8)

    def run() -> None:
        barrier.wait()
        for _ in range(5):
            client.cluster.health()

    threads = [threading.Thread(target=run) for _ in range(8)]
    try:
        with caplog.at_level("WARNING", logger="urllib3"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    finally:
        client.close()


def _few_field_reads(store) -> dict[str, object]:
    """The reads of a few fields per document, on every binary of the store, as the services make
    them: a lineage walk's links and sources, a find's submissions, a datastream's sources."""
    from azul_metastore.search.lineage import _LINK_FIELDS
    from azul_metastore.security import Access

    system = Access.system_access()
    shas = store.list_binaries(None, system, None, 100).items
    return {
        "documents": store.documents(shas, system, fields=_LINK_FIELDS),
        "documents-limited": store.documents(shas, system, limit=7, fields=["sha256", "source", "datastreams"]),
        "parents": store.linked_many(shas, system, "parents", 30, _LINK_FIELDS),
        "children": store.linked_many(shas, system, "children", 30, _LINK_FIELDS),
        "submissions": store.binary_submissions(shas, system),
        "streams": [store.stream_sources(stream["sha256"], system)
                    for doc in store.documents(shas, system) for stream in doc.get("datastreams") or ()],
    }


@pytest.mark.opensearch
def test_reads_of_a_few_fields_come_from_briefs_and_documents_read_back_without_them(
        os_store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same answers from briefs as from ``_source``. ``_source`` holds the brief and the numbers
    of feature values (template 20261130), yet neither is ever part of a document read back."""
    from azul_metastore.index.opensearch import brief
    from azul_metastore.security import Access

    assert os_store.briefs
    bodies: list[dict] = []
    real = os_store.client.search
    monkeypatch.setattr(os_store.client, "search", lambda **kw: bodies.append(kw["body"]) or real(**kw))
    monkeypatch.setattr(os_store, "gather", lambda *reads: [read() for read in reads])
    from_briefs = _few_field_reads(os_store)
    assert sum(b.get("stored_fields") == [brief.FIELD] for b in bodies) >= 6
    monkeypatch.setattr(os_store, "_briefless", frozenset({"an-older-index"}))
    assert not os_store.briefs
    bodies.clear()
    assert _few_field_reads(os_store) == from_briefs
    assert not any(brief.FIELD in str(b.get("stored_fields")) for b in bodies)
    assert from_briefs["documents"] and from_briefs["submissions"] and from_briefs["streams"]
    system = Access.system_access()
    shas = os_store.list_binaries(None, system, None, 100).items
    stored = [hit["_source"] for hit in os_store.client.search(
        index=os_store.alias("binary2"), body={"size": 1000, "query": {"exists": {"field": "action"}}})["hits"]["hits"]]
    assert stored and all(brief.FIELD in doc for doc in stored)
    assert any("features_num" in doc for doc in stored)
    whole = os_store.documents(shas, system)  # more than a window's worth would be fetched the same way
    newest = os_store.documents(shas, system, limit=50)
    links = [doc for sha in shas for doc in os_store.linked(sha, system, "children", None, 50).items]
    for docs in (whole, newest, links):
        assert docs and not any(key in doc for doc in docs for key in brief.INDEXED_ONLY)
    assert any("features" in doc for doc in whole)
    assert len(whole) == len(stored)


def _finds(store) -> dict[tuple[str, str, bool, bool, int], list[str]]:
    """Finds by documents (one document must match) of several sizes, both orders, every user of
    the suite's vocabulary, with and without the submission condition."""
    from azul_metastore.query import parse
    from tests.support.index_data import Dataset

    dataset = Dataset(generated=0)
    out = {}
    for term in ("features_map.tag:malware OR features_map.section:.rsrc", "action:enriched", "action:sourced",
                 "source.name:samples"):
        for user in ("low", "high"):
            for ascending in (False, True):
                for submission in (False, True):
                    for limit in (1, 3, 1000):
                        out[(term, user, ascending, submission, limit)] = store.find(
                            parse(term), dataset.access(user), ascending=ascending, limit=limit,
                            require_submission=submission)
    return out


@pytest.mark.opensearch
def test_binary2_is_sorted_by_sha256_and_finds_list_ties_in_that_order(os_store) -> None:
    """Indices made by the template are sorted by sha256 ascending; a find by _score (every score
    ties) lists binaries in that order, best first, and the other way round when asked ascending."""
    settings = os_store.client.indices.get_settings(index=os_store.alias("binary2"), name="index.sort.*",
                                                    flat_settings=True)
    assert [s["settings"] for s in settings.values()] == [{"index.sort.field": "sha256", "index.sort.order": "asc"}] * 2
    finds = _finds(os_store)
    for (term, user, ascending, submission, limit), found in finds.items():
        assert found == sorted(found, reverse=ascending), (term, user, ascending)
        assert found[:limit] == finds[(term, user, ascending, submission, 1000)][:limit]
    assert any(len(found) > 3 for found in finds.values())


@pytest.mark.opensearch
def test_a_partition_from_the_template_before_briefs_is_upgraded_and_reads_source(request, tmp_path: Path) -> None:
    """``force-update-templates`` from 20261126: an index that exists keeps its ``_source`` (which
    cannot change), gets no briefs, and is read through ``_source``; answers are the same."""
    from azul_metastore.index.opensearch import OpenSearchMetadataStore, brief
    from azul_metastore.index.opensearch.templates import BINARY_SORT, UPGRADABLE_FROM, IndexNames, Templates
    from tests.support.index_data import Dataset
    from tests.support.index_stores import _opensearch

    fresh = _opensearch(request, tmp_path, "single", shards=1)
    client, partition = fresh.client, fresh.names.partition
    fresh.templates.initialise()
    names = IndexNames(f"{partition}old", "single")
    old = Templates(client, names, shards=1, replicas=0).body("binary2")
    old["version"] = UPGRADABLE_FROM
    for key in BINARY_SORT:  # nor were its indices sorted (template 20261128)
        del old["template"]["settings"]["index"][key]
    mapping = old["template"]["mappings"]
    mapping["_source"] = {"excludes": ["features_num"]}  # as 20261126 made it (20261130 excludes nothing)
    del mapping["_meta"]  # nor did it record its version in the mapping (20261130)
    del mapping["properties"][brief.FIELD]
    del mapping["properties"]["ancestors"]  # nor recorded paths (template 20261129): strict, so added or refused
    client.indices.put_index_template(name=names.template("binary2"), body=old)
    client.indices.create(index=names.binary("ab" * 32))
    assert not client.indices.get_settings(index=names.binary("ab" * 32), name="index.sort.*")
    try:
        Templates(client, names, shards=1, replicas=0).initialise(force=True)
        upgraded = OpenSearchMetadataStore(client, names.partition, binary_layout="single", initialise=False,
                                           open_labels=fresh.open_labels, enforced=fresh.enforced)
        assert not upgraded.briefs and fresh.briefs
        kept = client.indices.get_mapping(index=names.binary("ab" * 32))[names.binary("ab" * 32)]["mappings"]
        assert "_meta" not in kept and kept["_source"] == {"excludes": ["features_num"]}  # made by 20261126
        dataset = Dataset(generated=12)
        documents = dataset.documents
        for store in (upgraded, fresh):
            store.write(documents)
            store.refresh()
        stored = client.search(index=names.alias("binary2"), body={"size": 5, "stored_fields": [brief.FIELD, "_source"],
                                                                  "query": {"exists": {"field": "action"}}})
        assert all(brief.FIELD not in (hit.get("fields") or {}) and brief.FIELD not in hit["_source"]
                   for hit in stored["hits"]["hits"])
        assert _few_field_reads(upgraded) == _few_field_reads(fresh)
        assert _finds(upgraded) == _finds(fresh)  # unsorted and sorted
        system = dataset.access("system")
        everything = sorted({doc.body["sha256"] for doc in documents if doc.body.get("sha256")})
        below = upgraded.lineage_below(everything, everything, system, 1000, ["sha256", "parent", "ancestors"])
        assert below and below == fresh.lineage_below(everything, everything, system, 1000,
                                                      ["sha256", "parent", "ancestors"])
        assert all(doc["ancestors"] for doc in below)
    finally:
        for doc_type in ("binary2", "status", "plugin", "annotation", "tombstone"):
            client.indices.delete_index_template(name=names.template(doc_type), ignore=404)
        client.indices.delete(index=f"azul.o.{names.partition}.*,azul.x.{names.partition}.*",
                              ignore_unavailable=True, allow_no_indices=True, expand_wildcards="all")


@pytest.mark.opensearch
def test_reads_of_binaries_not_named_skip_the_empty_open_index_once_a_shut_one_exists(
        request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the first binary is written only the alias has an index (its always-empty open base),
    and reads go through it and answer nothing; afterwards they go to the shut indices alone,
    with the answers the alias gives."""
    from azul_metastore.security import Access
    from tests.support.index_data import Dataset
    from tests.support.index_stores import _opensearch

    store = _opensearch(request, tmp_path, "hex")
    try:
        system = Access.system_access()
        assert store.all_binary_indices() == store.alias("binary2")
        assert store.count(None, system) == 0 and store.list_binaries(None, system, None, 5).items == []
        store.write(Dataset(generated=10).documents)
        store.refresh()
        assert store.all_binary_indices() == store.names.shut("binary2") + "*"
        assert store.client.count(index=store.names.open("binary2"))["count"] == 0
        shut = store.count(None, system), store.list_binaries(None, system, None, 50).items, store.find(None, system)
        monkeypatch.setattr(store, "all_binary_indices", lambda: store.alias("binary2"))
        assert (store.count(None, system), store.list_binaries(None, system, None, 50).items,
                store.find(None, system)) == shut
        assert shut[0] > 0
    finally:
        store.close()


@pytest.mark.kafka
def test_a_commit_refused_in_a_rebalance_leaves_its_records_to_be_delivered_again(kafka_bootstrap: str) -> None:
    """While a second process joins, a commit can fail (ILLEGAL_GENERATION); its records used to be
    taken for committed and never handed out again. Every record must end up committed by someone."""
    import threading
    import time

    from azul_metastore.errors import BackendUnavailable
    from azul_metastore.events.kafka import KafkaEventLog

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    logs = [KafkaEventLog(kafka_bootstrap, prefix, "suite", session_timeout_seconds=6, join_timeout=20,
                          lease_seconds=2) for _ in range(2)]
    taken: dict[str, set[int]] = {"t1": set(), "t2": set()}
    lock = threading.Lock()

    def take(log: KafkaEventLog, batch) -> None:
        try:
            log.commit(batch)
        except BackendUnavailable:
            return
        with lock:
            for record in batch.records:
                taken[record.topic].add(record.offset)

    try:
        for topic in taken:
            logs[0].append(topic, [Message(f"{topic}-{i}", b"{}") for i in range(20)])
        held = logs[0].fetch("g", ["t1", "t2"], 3, 5, consumer="w1")
        stop = threading.Event()
        joiner = threading.Thread(target=lambda: [take(logs[1], logs[1].fetch("g", ["t1", "t2"], 4, 0.5,
                                                                              consumer="w2"))
                                                  for _ in iter(stop.is_set, True)])
        joiner.start()
        until = time.monotonic() + 6
        while time.monotonic() < until:
            take(logs[0], logs[0].fetch("g", ["t2"], 1, 0.2, consumer="w1b"))
        take(logs[0], held)
        until = time.monotonic() + 12
        while time.monotonic() < until and any(len(v) < 20 for v in taken.values()):
            take(logs[0], logs[0].fetch("g", ["t1", "t2"], 10, 0.5, consumer="w1"))
        stop.set()
        joiner.join()
        assert taken == {"t1": set(range(20)), "t2": set(range(20))}
        assert logs[0].lag("g", "t1") == logs[0].lag("g", "t2") == 0
    finally:
        for log in logs:
            log.close()


@pytest.mark.kafka
def test_kafka_takes_records_as_large_as_intake_and_refuses_larger_ones_whole(tmp_path: Path,
                                                                                kafka_bootstrap: str) -> None:
    """Kafka's default record limit is 1 MB, intake's 2 MiB; a batch with one record too large
    stored the records queued before it although the append failed."""
    from azul_metastore.app import kafka_max_message_bytes, kafka_topic_config
    from azul_metastore.events.kafka import KafkaEventLog
    from azul_metastore.settings import load_settings

    settings = load_settings(data_dir=tmp_path)
    log = KafkaEventLog(kafka_bootstrap, f"test-{uuid.uuid4().hex[:12]}", "suite",
                        topic_config=kafka_topic_config(settings),
                        max_message_bytes=kafka_max_message_bytes(settings))
    try:
        big = Message("big", b"x" * settings.max_event_bytes)
        assert log.append("binary", [Message("a", b"1"), big, Message("b", b"2")]) == [0, 1, 2]
        assert len(log.read("binary", 1, 1)[0].value) == settings.max_event_bytes
        too_big = Message("huge", b"x" * (kafka_max_message_bytes(settings) + 1))
        with pytest.raises(InvalidInput, match="at most"):
            log.append("binary", [Message("c", b"3"), too_big])
        assert log.end_offset("binary") == 3
    finally:
        log.close()


@pytest.mark.kafka
def test_kafka_lists_topic_names_with_underscores_as_written(kafka_bootstrap: str) -> None:
    from azul_metastore.events.kafka import KafkaEventLog

    log = KafkaEventLog(kafka_bootstrap, f"test-{uuid.uuid4().hex[:12]}", "suite")
    names = ["binary.retry.my_plugin", "a_5fb", "é_x"]
    long = "binary.retry." + "plug_in-" * 40  # past Kafka's 249 characters: shortened
    try:
        for i, name in enumerate(names):
            log.append(name, [Message("k", b"{}")] * (i + 1))
        log.append(long, [Message("k", b"{}")] * 4)
        (listed,) = set(log.topics()) - set(names)
        assert sorted(set(log.topics()) - {listed}) == sorted(names)
        # what is listed for the shortened topic reaches it (age-off trims what topics() lists)
        assert listed.startswith("binary.retry.plug") and listed != long
        assert log.end_offset(listed) == log.end_offset(long) == 4
        assert [log.end_offset(name) for name in names] == [1, 2, 3]
        assert log.trim(listed, int(time.time() * 1000) + 60_000) == 4
        assert log.end_offset(long) == 4 and log.read(long, 0, 10) == []
    finally:
        log.close()


@pytest.mark.kafka
def test_kafka_topics_take_the_retention_of_the_settings_of_the_day(kafka_bootstrap: str) -> None:
    from confluent_kafka.admin import ConfigResource

    from azul_metastore.events.kafka import KafkaEventLog, kafka_topic_name

    prefix = f"test-{uuid.uuid4().hex[:12]}"

    def retention(days: int):
        return lambda topic: {"retention.ms": str(days * 86_400_000 if days else -1)}

    first = KafkaEventLog(kafka_bootstrap, prefix, "suite", topic_config=retention(1))
    first.append("binary", [Message("k", b"{}")])
    first.close()
    later = KafkaEventLog(kafka_bootstrap, prefix, "suite", topic_config=retention(0))
    try:
        later.append("binary", [Message("k", b"{}")])
        resource = ConfigResource(ConfigResource.Type.TOPIC, kafka_topic_name(prefix, "suite", "binary"))
        (future,) = later._admin.describe_configs([resource]).values()
        assert future.result(timeout=30)["retention.ms"].value == "-1"
    finally:
        later.close()


@pytest.mark.kafka
def test_a_topic_config_the_cluster_refuses_is_logged_and_the_topic_used(kafka_bootstrap: str,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Clusters where operators own topic configs deny the change; the log must keep working."""
    from azul_metastore.events.kafka import KafkaEventLog

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    first = KafkaEventLog(kafka_bootstrap, prefix, "suite")
    first.append("binary", [Message("k", b"{}")])
    first.close()
    refused = KafkaEventLog(kafka_bootstrap, prefix, "suite", topic_config=lambda topic: {"retention.ms": "soon"})
    try:
        assert refused.append("binary", [Message("k", b"{}")]) == [1]
        assert "keeps its configuration" in caplog.text
    finally:
        refused.close()
