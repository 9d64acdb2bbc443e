"""OpenSearch security roles for the metastore's indices (inventory §1.5, §8.2-8.3).

The application filters every read itself; these roles make OpenSearch refuse the same documents
to anyone who reads the indices directly (Dashboards, scripts), as a second line of defence.

* one empty role per safe label (``s-low``, ``s-rel-apple``...), plus ``s-any`` and fillers: they
  carry no permissions, they exist so a user's labels show up in ``${user.securityRoles}``;
* ``azul_read``: read on ``azul.o.*`` freely and on ``azul.x.*`` through a DLS query that is the
  application's visibility rule written against the user's roles;
* ``azul_write``: what ingestors and templates need.

Role mappings (``--rolesmapping``) map each raw label as a backend role to its safe role, so a
token with roles ``["azul_read", "LOW", "REL:APPLE"]`` gets ``azul_read, s-any, s-low, s-rel-apple``.
Existing roles and mappings are never updated (delete them to change the DLS), as in Azul.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy import exceptions as os_errors

from azul_metastore.security import ANY, SecurityPolicy, safe_label

API = "/_plugins/_security/api"
FILLERS = tuple(f"azul-fill{i}" for i in range(1, 6))


def dls_query(enforced: list[str]) -> str:
    """The DLS of ``azul_read``: :func:`compiler.security_filter` with the user's roles as labels."""
    roles = "[${user.securityRoles}]"
    clauses = [
        f'{{"terms": {{"encoded_security.inclusive": {roles}}}}}',
        f'{{"terms_set": {{"encoded_security.exclusive": {{"terms": {roles}, '
        f'"minimum_should_match_field": "encoded_security.num_exclusive"}}}}}}',
    ]
    if enforced:
        markings = json.dumps(sorted(enforced))
        clauses.append(
            f'{{"bool": {{"minimum_should_match": 1, "should": ['
            f'{{"bool": {{"must_not": [{{"terms": {{"encoded_security.markings": {markings}}}}}]}}}}, '
            f'{{"terms": {{"encoded_security.markings": {roles}}}}}]}}}}')
    return '{"bool": {"filter": [' + ", ".join(clauses) + "]}}"


def label_roles(policy: SecurityPolicy) -> dict[str, str]:
    """Safe role name -> the raw label it stands for (the backend role of its mapping)."""
    return {safe_label(label): label for label in sorted(policy.vocab.all_labels)}


def roles(policy: SecurityPolicy) -> dict[str, dict[str, Any]]:
    """Every role ``apply-opensearch-config`` creates, by name."""
    empty: dict[str, Any] = {"cluster_permissions": [], "index_permissions": []}
    out: dict[str, dict[str, Any]] = {name: dict(empty) for name in [*label_roles(policy), ANY, *FILLERS]}
    enforced = [safe_label(t) for t in policy.vocab.enforced_tlps]
    out["azul_read"] = {
        "cluster_permissions": ["indices:data/read/*", "kibana_user"],
        "index_permissions": [
            {"index_patterns": ["*"], "allowed_actions": ["indices:admin/resolve/index"]},
            {"index_patterns": ["azul.*"], "allowed_actions": ["indices:admin/get", "indices:admin/analyze"]},
            {"index_patterns": ["azul.x.*"], "allowed_actions": ["read"], "dls": dls_query(enforced)},
            {"index_patterns": ["azul.o.*"], "allowed_actions": ["read"]},
        ],
    }
    out["azul_write"] = {
        "cluster_permissions": ["cluster_monitor", "cluster:admin/script/*", "indices:admin/index_template/*",
                                "indices:admin/mapping/*", "indices:admin/template/*", "indices:data/read/*",
                                "indices:data/write/bulk", "kibana_user"],
        "index_permissions": [{"index_patterns": ["azul.*"], "allowed_actions": ["unlimited"]}],
    }
    return out


def role_mappings(policy: SecurityPolicy) -> dict[str, dict[str, Any]]:
    out = {name: {"backend_roles": [label]} for name, label in label_roles(policy).items()}
    out["azul_read"] = {"backend_roles": ["azul_read"]}
    out[ANY] = {"backend_roles": ["azul_read"]}
    out["azul_write"] = {"backend_roles": ["azul_write"]}
    for filler in FILLERS:
        out[filler] = {"backend_roles": ["azul_read"]}
    return out


def requests(policy: SecurityPolicy, mappings: bool) -> list[tuple[str, dict[str, Any]]]:
    """(path, body) of every PUT, roles first, then (if asked) role mappings."""
    out = [(f"{API}/roles/{name}", body) for name, body in roles(policy).items()]
    if mappings:
        out += [(f"{API}/rolesmapping/{name}", body) for name, body in role_mappings(policy).items()]
    return out


def render(policy: SecurityPolicy, mappings: bool) -> str:
    """The requests as text an administrator can paste into the Dashboards dev tools."""
    return "\n\n".join(f"PUT {path}\n{json.dumps(body, indent=2)}" for path, body in requests(policy, mappings))


@dataclass(slots=True)
class Outcome:
    path: str
    result: str  # "created", "exists" (left unchanged) or "failed: <reason>"


def apply(client: OpenSearch, policy: SecurityPolicy, mappings: bool) -> list[Outcome]:
    """Create every missing role (and mapping); leave existing ones unchanged; report each."""
    outcomes = []
    for path, body in requests(policy, mappings):
        try:
            try:
                client.transport.perform_request("GET", path)
                outcomes.append(Outcome(path, "exists"))
                continue
            except os_errors.NotFoundError:
                pass
            client.transport.perform_request("PUT", path, body=body)
            outcomes.append(Outcome(path, "created"))
        except os_errors.OpenSearchException as exc:
            outcomes.append(Outcome(path, f"failed: {exc}"))
    return outcomes
