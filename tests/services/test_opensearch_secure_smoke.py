"""Smoke test of the OpenSearch node with the security plugin (``opensearch_secure_url``).

Shows what tests of roles and document-level security can rely on: internal users with basic
auth, the security REST API for the admin, and HS256 bearer JWTs whose ``roles`` claim selects
roles that carry a DLS query.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
import pytest
from opensearchpy import AuthenticationException, AuthorizationException, OpenSearch, helpers

pytestmark = pytest.mark.opensearch


def _token(info: dict[str, Any], subject: str, roles: list[str], secret: str | None = None) -> str:
    claims = {info["jwt_subject_key"]: subject, info["jwt_roles_key"]: roles, "exp": int(time.time()) + 300}
    return jwt.encode(claims, secret or info["jwt_secret"], algorithm=info["jwt_algorithm"])


def _bearer(info: dict[str, Any], token: str) -> OpenSearch:
    return OpenSearch(hosts=[info["url"]], headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_users_roles_and_document_level_security(opensearch_secure_url: dict[str, Any]) -> None:
    info = opensearch_secure_url
    admin = OpenSearch(hosts=[info["url"]], http_auth=info["admin"], timeout=30)
    writer = OpenSearch(hosts=[info["url"]], http_auth=info["writer"], timeout=30)

    with pytest.raises(AuthenticationException):
        OpenSearch(hosts=[info["url"]], timeout=30).info()
    assert "all_access" in admin.transport.perform_request("GET", "/_plugins/_security/authinfo")["roles"]

    index = f"secure-smoke-{uuid.uuid4().hex[:8]}"
    docs = [("1", "OPEN"), ("2", "SECRET"), ("3", "OPEN")]
    writer.indices.create(
        index=index,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": {"properties": {"security": {"type": "keyword"}}},
        },
    )
    helpers.bulk(writer, ({"_index": index, "_id": i, "_source": {"security": s}} for i, s in docs), refresh=True)
    with pytest.raises(AuthorizationException):
        writer.transport.perform_request("GET", "/_plugins/_security/api/roles")

    # What `apply-opensearch-config` will do: a role with a DLS query, mapped to a backend role.
    role = f"smoke_open_{uuid.uuid4().hex[:6]}"
    admin.transport.perform_request(
        "PUT",
        f"/_plugins/_security/api/roles/{role}",
        body={
            "cluster_permissions": ["cluster_composite_ops_ro"],
            "index_permissions": [
                {
                    "index_patterns": ["secure-smoke-*"],
                    "dls": json.dumps({"term": {"security": "OPEN"}}),
                    "allowed_actions": ["read"],
                }
            ],
        },
    )
    admin.transport.perform_request(
        "PUT", f"/_plugins/_security/api/rolesmapping/{role}", body={"backend_roles": [f"{role}_group"]}
    )
    try:
        reader = _bearer(info, _token(info, "alice", [f"{role}_group"]))
        who = reader.transport.perform_request("GET", "/_plugins/_security/authinfo")
        assert who["user_name"] == "alice" and role in who["roles"]
        hits = reader.search(index=index, body={"query": {"match_all": {}}})["hits"]["hits"]
        assert sorted(h["_id"] for h in hits) == ["1", "3"]
        with pytest.raises(AuthorizationException):
            reader.index(index=index, id="4", body={"security": "OPEN"})
        with pytest.raises(AuthenticationException):
            _bearer(info, _token(info, "alice", [f"{role}_group"], secret="x" * 48)).search(index=index)
        assert admin.count(index=index)["count"] == 3
    finally:
        admin.transport.perform_request("DELETE", f"/_plugins/_security/api/rolesmapping/{role}")
        admin.transport.perform_request("DELETE", f"/_plugins/_security/api/roles/{role}")
        admin.indices.delete(index=index)
