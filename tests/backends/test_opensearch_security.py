"""OpenSearch's own document-level security, as ``apply-opensearch-config`` sets it up (§8.2-8.3).

The application filters every read itself (the behaviour suite proves it); this checks the second
line: a user reading the indices directly, with a JWT whose ``roles`` are their labels, gets only
the documents those labels allow, from OpenSearch itself.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from opensearchpy import AuthorizationException

from azul_metastore.cli import main
from azul_metastore.index.opensearch import OpenSearchMetadataStore
from azul_metastore.index.opensearch.client import new_client
from tests.support.gen import SOURCES
from tests.support.index_data import NAMES, Dataset
from tests.support.security import LABELS

pytestmark = pytest.mark.opensearch


def _reader(info: dict[str, Any], roles: list[str]) -> Any:
    claims = {info["jwt_subject_key"]: "reader", info["jwt_roles_key"]: roles, "exp": int(time.time()) + 300}
    token = jwt.encode(claims, info["jwt_secret"], algorithm=info["jwt_algorithm"])
    return new_client(info["url"], headers={"Authorization": f"Bearer {token}"})


def _visible(client: Any, partition: str) -> set[str]:
    body = {"size": 1000, "query": {"term": {"binary_info": "metadata"}}, "_source": ["sha256"]}
    hits = client.search(index=f"azul.x.{partition}.binary2.*", body=body)["hits"]["hits"]
    return {NAMES[h["_source"]["sha256"]] for h in hits if h["_source"]["sha256"] in NAMES}


def test_roles_from_apply_opensearch_config_make_opensearch_refuse_documents(
        opensearch_secure_url: dict[str, Any]) -> None:
    info = opensearch_secure_url
    partition = f"sec{uuid.uuid4().hex[:10]}"
    env = {"METASTORE_OPENSEARCH_URL": info["url"], "METASTORE_PARTITION": partition,
           "METASTORE_OPENSEARCH_ADMIN_USERNAME": info["admin"][0],
           "METASTORE_OPENSEARCH_ADMIN_PASSWORD": info["admin"][1],
           "METASTORE_SECURITY_LABELS": json.dumps(LABELS), "METASTORE_SECURITY_DEFAULT": "LOW",
           "METASTORE_SECURITY_MINIMUM_REQUIRED_ACCESS": '["LOW"]', "METASTORE_SOURCES": json.dumps(SOURCES)}
    printed = CliRunner().invoke(main, ["apply-opensearch-config", "--print-only", "--rolesmapping"], env=env)
    assert printed.exit_code == 0, printed.output
    assert "PUT /_plugins/_security/api/roles/azul_read" in printed.output
    assert "rolesmapping/s-rel-apple" in printed.output
    applied = CliRunner().invoke(main, ["apply-opensearch-config", "--rolesmapping", "--no-input"], env=env)
    assert applied.exit_code == 0, applied.output
    assert "failed" not in applied.output
    again = CliRunner().invoke(main, ["apply-opensearch-config", "--no-input"], env=env)
    assert again.exit_code == 0 and "created" not in again.output

    admin = new_client(info["url"], *info["admin"])
    writer = new_client(info["url"], *info["writer"])
    try:
        store = OpenSearchMetadataStore(writer, partition, open_labels=frozenset({"s-low"}),
                                        enforced=frozenset({"s-tlp-amber-strict"}))
        store.write(Dataset(generated=0).catalogue)
        store.refresh()  # a write is searchable from the next refresh
        assert _visible(writer, partition) == {"A", "B", "C", "D", "E"}
        # LOW only: A, C and E's LOW enrichment; never B (MEDIUM REL:APPLE) or D (enforced TLP)
        assert _visible(_reader(info, ["azul_read", "LOW"]), partition) == {"A", "C", "E"}
        assert _visible(_reader(info, ["azul_read", "LOW", "MEDIUM", "REL:APPLE"]), partition) == {"A", "B", "C", "E"}
        assert _visible(_reader(info, ["azul_read", "LOW", "TLP:AMBER+STRICT"]), partition) == {"A", "C", "D", "E"}
        everything = ["azul_read", "LOW", "MEDIUM", "MOD1", "REL:APPLE", "TLP:AMBER+STRICT"]
        assert _visible(_reader(info, everything), partition) == {"A", "B", "C", "D", "E"}
        with pytest.raises(AuthorizationException):
            _reader(info, ["LOW"]).search(index=f"azul.x.{partition}.binary2.*", body={"query": {"match_all": {}}})
    finally:
        admin.indices.delete(index=f"azul.o.{partition}.*,azul.x.{partition}.*", ignore_unavailable=True,
                             allow_no_indices=True)
        for doc_type in ("binary2", "status", "plugin", "annotation", "tombstone"):
            admin.indices.delete_index_template(name=f"azul.{partition}.{doc_type}", ignore=404)
