"""Property: no read endpoint ever shows a caller a binary, document, count, feature value, lineage
link or similarity match that the caller's labels do not allow.

Documents carry random securities from the test vocabulary; each example mints a JWT for a user with
a random label set (and sometimes an ``x`` exclusion) and asks random endpoints. The oracle is
computed independently of the endpoints: the stored documents (read with system access) filtered
by ``Access.can_see`` of the user.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import tlsh
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azul_metastore.app import Services, build_services
from azul_metastore.security import Access
from tests.support.events import binary_event, sha256_of
from tests.support.security import ALL_LABELS, security_settings
from tests.support.server import running_server

SECRET = "property-test-secret-0123456789abcdef0123"
SOURCES = {"samples": {}, "incidents": {}}
CANDIDATE_SECURITIES = [
    "LOW", "LOW TLP:CLEAR", "LOW TLP:AMBER", "LOW TLP:AMBER+STRICT", "LOW MOD1", "LOW: LY",
    "MEDIUM REL:APPLE", "MEDIUM MOD1 REL:APPLE", "MEDIUM REL:APPLE REL:BEE", "HIGH REL:APPLE",
    "HIGH MOD2 REL:APPLE REL:BEE", "TOP HIGH REL:APPLE", "MEDIUM MOD3 REL:APPLE REL:CAR",
]
ROLE_CHOICES = [label for label in ALL_LABELS if label != "LOW"]


def _tlsh_of(seed: int) -> str:
    rng = random.Random(seed)
    return tlsh.hash(bytes(rng.getrandbits(8) for _ in range(512)))


class World:
    """The stored data and the oracle over it."""

    def __init__(self, services: Services, url: str) -> None:
        self.services, self.url = services, url
        self.policy = services.security
        rng = random.Random(20261125)
        securities = [s for s in CANDIDATE_SECURITIES if self.policy.is_valid(s)]
        events = []
        self.roots = []
        for i in range(24):
            sha = sha256_of(f"root-{i}")
            self.roots.append(sha)
            sourced = binary_event(sha256=sha, security=rng.choice(securities), source=rng.choice(list(SOURCES)),
                                   features=[{"name": "family", "type": "string", "value": f"fam{i % 5}"}])
            sourced["entity"]["tlsh"] = _tlsh_of(i)
            events.append(sourced)
            for j in range(rng.randint(0, 2)):
                events.append(binary_event(sha256=sha, action="enriched", author=f"plugin{j}",
                                           security=rng.choice(securities),
                                           features=[{"name": "family", "type": "string",
                                                      "value": f"fam{rng.randint(0, 9)}"}]))
            for k in range(rng.randint(0, 2)):
                child = binary_event(sha256=sha256_of(f"child-{i}-{k % 2}"), action="extracted", parent=sha,
                                     author="unzip", security=rng.choice(securities),
                                     features=[{"name": "family", "type": "string", "value": f"c{i}"}])
                events.append(child)
        with httpx.Client(base_url=url, timeout=60) as client:
            resp = client.post("/api/v2/event", params={"model": "binary", "refresh": "true"},
                               content=json.dumps(events), headers=self.auth(["LOW", "admin"]))
            assert resp.status_code == 200 and resp.json()["total_failures"] == 0, resp.text
        system = Access.system_access(self.policy)
        self.docs = {}
        for sha in {e["entity"]["sha256"] for e in events}:
            self.docs[sha] = services.index.documents([sha], system)

    def auth(self, roles: list[str]) -> dict[str, str]:
        claims = {"preferred_username": "prop", "roles": roles, "exp": int(time.time()) + 600}
        return {"authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}

    def visible_docs(self, access: Access, sha: str) -> list[dict]:
        return [d for d in self.docs.get(sha, []) if access.can_see(self.policy.encode(d["security"]))]

    def visible_binaries(self, access: Access) -> set[str]:
        return {sha for sha in self.docs if self.visible_docs(access, sha)}

    def submitted(self, access: Access) -> set[str]:
        return {sha for sha in self.docs if any(d.get("source") for d in self.visible_docs(access, sha))}

    def values(self, access: Access, sha: str | None = None) -> set[str]:
        shas = [sha] if sha else list(self.docs)
        return {v for s in shas for d in self.visible_docs(access, s) for v in d.get("features_map", {}).get(
            "family", [])}

    def children(self, access: Access, parent: str) -> set[str]:
        return {sha for sha in self.docs for d in self.visible_docs(access, sha)
                if (d.get("parent") or {}).get("sha256") == parent}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("property")
    svc = build_services(security_settings(data_dir=tmp / "data", sources=SOURCES, jwt_hs256_secret=SECRET,
                                           jwt_algorithms=["HS256"], auth_service_roles=["admin"]))
    with running_server(svc) as url:
        yield World(svc, url)
    svc.close()


users = st.tuples(st.sets(st.sampled_from(ROLE_CHOICES), max_size=8),
                  st.one_of(st.none(), st.sampled_from(["MOD1", "REL:BEE", "TLP:AMBER", "MEDIUM"])))
endpoint = st.sampled_from(["find", "find_term", "summary", "statistics", "feature_values", "children", "tlsh",
                            "head"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=users, which=endpoint, pick=st.integers(min_value=0, max_value=23))
def test_no_endpoint_leaks(world: World, user: tuple[set[str], str | None], which: str, pick: int) -> None:
    roles = ["LOW", *sorted(user[0])]
    exclude = user[1]
    access = Access.for_user(world.policy, "prop", roles, exclude=[exclude] if exclude else [])
    params = {"x": exclude} if exclude else {}
    sha = world.roots[pick]
    with httpx.Client(base_url=world.url, headers=world.auth(roles), timeout=60) as client:
        if which == "find":
            resp = client.post("/api/v0/binaries", params={**params, "max_entities": 1000}, json={"hashes": []})
            found = {item["sha256"] for item in resp.json()["data"]["items"]}
            assert found == world.submitted(access)
        elif which == "find_term":
            value = f"fam{pick % 10}"
            resp = client.post("/api/v0/binaries", params={**params, "term": f'features_map.family:"{value}"',
                                                           "max_entities": 1000}, json={"hashes": []})
            assert resp.status_code in (200, 422), resp.text
            found = {item["sha256"] for item in resp.json()["data"]["items"]} if resp.status_code == 200 else set()
            allowed = {s for s in world.submitted(access) if value in world.values(access, s)}
            assert found <= allowed
        elif which in ("summary", "head"):
            method = client.get if which == "summary" else client.head
            resp = method(f"/api/v0/binaries/{sha}", params=params)
            visible = bool(world.visible_docs(access, sha))
            assert resp.status_code == (200 if visible else 404), resp.text
            if visible and which == "summary":
                data = resp.json()["data"]
                shown = {f["value"] for f in data["features"] if f["name"] == "family"}
                assert shown <= world.values(access, sha)
                assert {c["sha256"] for c in data["children"]} <= world.children(access, sha)
                assert data["documents"]["count"] <= len(world.visible_docs(access, sha))
        elif which == "statistics":
            count = client.get("/api/v0/statistics", params=params).json()["data"]["binary_count"]
            assert count <= len(world.visible_binaries(access))
        elif which == "feature_values":
            resp = client.post("/api/v0/features/feature/family", params=params, json={"after": None})
            shown = {v["value"] for v in resp.json()["data"]["values"]}
            assert shown <= world.values(access)
        elif which == "children":
            resp = client.post("/api/v0/binaries/all/children", params={**params, "family_sha256": sha},
                               json={"after": None})
            shown = {item["sha256"] for item in resp.json()["data"]["items"]}
            assert shown <= world.children(access, sha)
        elif which == "tlsh":
            resp = client.get("/api/v0/binaries/similar/tlsh", params={**params, "tlsh": _tlsh_of(pick),
                                                                       "max_matches": 50})
            shown = {m["sha256"] for m in resp.json()["data"]["matches"]}
            assert shown <= world.visible_binaries(access)


def test_below_minimum_access_sees_nothing(world: World) -> None:
    with httpx.Client(base_url=world.url, headers=world.auth(["MEDIUM", "REL:APPLE"]), timeout=60) as client:
        for path in ("/api/v0/statistics", f"/api/v0/binaries/{world.roots[0]}"):
            assert client.get(path).status_code == 401
