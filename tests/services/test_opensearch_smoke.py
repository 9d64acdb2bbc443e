"""OpenSearch smoke test: the node services/ starts has the modules the metastore relies on.

Covers a mapping with a join field, bulk indexing, search, a painless update-by-query, a
delete-by-query, a parent-join query and, when the k-NN plugin is loaded, a k-NN query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opensearchpy import OpenSearch, helpers

pytestmark = pytest.mark.opensearch


@pytest.fixture
def client(opensearch_url: str) -> OpenSearch:
    return OpenSearch(hosts=[opensearch_url], timeout=30)


@pytest.fixture
def index(client: OpenSearch) -> Iterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    yield name
    client.indices.delete(index=name, ignore_unavailable=True)


def test_core_modules(client: OpenSearch, index: str) -> None:
    # analysis-common (asciifolding), mapper-extras (scaled_float) and parent-join (join) in one mapping.
    client.indices.create(
        index=index,
        body={
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": 0,
                "analysis": {
                    "analyzer": {
                        "simple_ascii": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": ["lowercase", "asciifolding"],
                        }
                    }
                },
            },
            "mappings": {
                "properties": {
                    "sha256": {"type": "keyword"},
                    "size": {"type": "long"},
                    "score": {"type": "scaled_float", "scaling_factor": 100},
                    "name": {"type": "text", "analyzer": "simple_ascii"},
                    "relation": {"type": "join", "relations": {"binary": "result"}},
                }
            },
        },
    )
    actions = []
    for i in range(10):
        parent = f"bin-{i}"
        actions.append(
            {
                "_index": index,
                "_id": parent,
                "_source": {
                    "sha256": f"{i:064x}",
                    "size": i * 100,
                    "score": i / 10,
                    "name": f"Fichier numéro {i}",
                    "relation": {"name": "binary"},
                },
            }
        )
        actions.append(
            {
                "_index": index,
                "_id": f"res-{i}",
                "_routing": parent,
                "_source": {"name": "plugin result", "size": i, "relation": {"name": "result", "parent": parent}},
            }
        )
    ok, errors = helpers.bulk(client, actions, refresh=True)
    assert ok == 20 and not errors

    hits = client.search(index=index, body={"query": {"match": {"name": "numero"}}})
    assert hits["hits"]["total"]["value"] == 10

    updated = client.update_by_query(
        index=index,
        body={
            "query": {"range": {"size": {"gte": 500}}},
            "script": {"lang": "painless", "source": "ctx._source.size += params.add", "params": {"add": 1}},
        },
        params={"refresh": "true", "conflicts": "proceed"},
    )
    assert updated["updated"] == 5
    assert client.get(index=index, id="bin-7", routing="bin-7")["_source"]["size"] == 701

    with_results = client.search(
        index=index, body={"query": {"has_child": {"type": "result", "query": {"range": {"size": {"gte": 8}}}}}}
    )
    assert sorted(h["_id"] for h in with_results["hits"]["hits"]) == ["bin-8", "bin-9"]

    deleted = client.delete_by_query(
        index=index, body={"query": {"term": {"relation": "result"}}}, params={"refresh": "true"}
    )
    assert deleted["deleted"] == 10
    assert client.count(index=index)["count"] == 10


def test_knn_when_loaded(client: OpenSearch, index: str) -> None:
    plugins = {row["component"] for row in client.cat.plugins(format="json")}
    if "org.opensearch.knn.plugin.KNNPlugin" not in plugins:
        pytest.skip("k-NN plugin not loaded (SERVICES_OPENSEARCH_KNN=0)")
    client.indices.create(
        index=index,
        body={
            "settings": {"index.knn": True, "number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {
                "properties": {
                    "vec": {
                        "type": "knn_vector",
                        "dimension": 4,
                        # Only the Lucene engine works: the Maven Central k-NN zip has no faiss/nmslib libraries.
                        "method": {"name": "hnsw", "engine": "lucene", "space_type": "l2"},
                    }
                }
            },
        },
    )
    vectors = {"a": [0, 0, 0, 1], "b": [0, 0, 1, 0], "c": [5, 5, 5, 5]}
    helpers.bulk(client, ({"_index": index, "_id": k, "_source": {"vec": v}} for k, v in vectors.items()), refresh=True)
    found = client.search(
        index=index, body={"size": 2, "query": {"knn": {"vec": {"vector": [0, 0, 0.9, 0.1], "k": 2}}}}
    )
    assert [h["_id"] for h in found["hits"]["hits"]] == ["b", "a"]
