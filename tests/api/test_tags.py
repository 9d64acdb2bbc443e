"""Tags on binaries and feature values over real HTTP (inventory §4.9, pitfall 41), and the shared
``submissions.tags`` service the read routes and ``binary.tag:`` search use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from azul_metastore.query import parse
from azul_metastore.submissions import tags
from tests.support.submissions import Env, serve, submit

MED = "MEDIUM REL:APPLE"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(tmp_path_factory.mktemp("tags")) as e:
        yield e


def binary(env: Env, data: bytes) -> str:
    resp = submit(env, "low", data)
    assert resp.status_code == 200, resp.text
    return resp.json()[0]["sha256"]


def tag(env: Env, user: str, sha: str, name: str, security: str | None = "LOW"):
    with env.client(user) as client:
        return client.post(f"/api/v0/binaries/{sha}/tags/{name}", json={"security": security})


def test_a_binary_tag_is_written_listed_searched_and_deleted(env: Env) -> None:
    sha = binary(env, b"tag me" * 10)
    resp = tag(env, "low", sha, "apt-42")
    assert resp.status_code == 200 and resp.json() is None
    (item,) = tags.binary_tags(env.svc.index, env.access("low"), sha)["items"]
    assert item["tag"] == "apt-42" and item["owner"] == "low" and item["type"] == "entity_tag"
    assert item["security"] == "LOW" and item["sha256"] == sha
    assert env.svc.index.find(parse("binary.tag:apt-42"), env.access("low")) == [sha]
    counts = tags.all_binary_tags(env.svc.index, env.access("low"))
    assert {"tag": "apt-42", "num_entities": 1, "num_entities_approx": False} in counts["tags"]
    with env.client("low") as client:
        deleted = client.delete(f"/api/v0/binaries/{sha}/tags/apt-42")
    assert deleted.status_code == 200
    assert deleted.json()["data"] == {"total": 1, "updated": 1, "deleted": 0}
    assert tags.binary_tags(env.svc.index, env.access("low"), sha)["items"] == []
    # writing it again brings it back
    assert tag(env, "low", sha, "apt-42").status_code == 200
    assert len(tags.binary_tags(env.svc.index, env.access("low"), sha)["items"]) == 1


def test_deleting_a_tag_disables_it_for_every_owner(env: Env) -> None:
    sha = binary(env, b"two owners" * 10)
    assert tag(env, "low", sha, "shared").status_code == 200
    assert tag(env, "med", sha, "shared").status_code == 200
    assert len(tags.binary_tags(env.svc.index, env.access("med"), sha)["items"]) == 2
    with env.client("med") as client:
        assert client.delete(f"/api/v0/binaries/{sha}/tags/shared").json()["data"]["updated"] == 2
    assert tags.binary_tags(env.svc.index, env.access("med"), sha)["items"] == []


def test_a_deleted_tag_is_counted_as_the_caller_sees_it(env: Env) -> None:
    """A delete disables every owner's copy; its count said how many copies of owners with other
    labels existed, which the caller may not see."""
    sha = binary(env, b"counted tag" * 10)
    assert tag(env, "low", sha, "counted").status_code == 200
    assert tag(env, "med", sha, "counted", MED).status_code == 200
    with env.client("low") as client:
        assert client.delete(f"/api/v0/binaries/{sha}/tags/counted").json()["data"] == {
            "total": 1, "updated": 1, "deleted": 0}
    assert tags.binary_tags(env.svc.index, env.access("med"), sha)["items"] == []


def test_a_tag_is_only_seen_and_deleted_by_those_cleared_for_it(env: Env) -> None:
    sha = binary(env, b"classified tag" * 10)
    assert tag(env, "med", sha, "secret-op", MED).status_code == 200
    assert tags.binary_tags(env.svc.index, env.access("low"), sha)["items"] == []
    with env.client("low") as client:
        assert client.delete(f"/api/v0/binaries/{sha}/tags/secret-op").json()["data"]["total"] == 0
    assert len(tags.binary_tags(env.svc.index, env.access("med"), sha)["items"]) == 1


@pytest.mark.parametrize(("name", "security", "status", "message"), [
    ("UPPER", "LOW", 400, "not valid"),
    ("has space", "LOW", 400, "not valid"),
    ("under_score", "LOW", 400, "not valid"),
    ("x" * 26, "LOW", 400, "not valid"),
    ("fine", MED, 422, "you may not assign"),
    ("fine", "LOW NONSENSE", 422, "unknown label"),
    ("fine", "", 422, "security is required"),
])
def test_bad_tags_are_refused(env: Env, name: str, security: str, status: int, message: str) -> None:
    sha = binary(env, b"refuse tags" * 10)
    resp = tag(env, "low", sha, name, security)
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]
    assert tags.binary_tags(env.svc.index, env.access("high_all"), sha)["items"] == []


def test_a_long_comment_is_refused(env: Env) -> None:
    sha = binary(env, b"comment" * 10)
    with env.client("low") as client:
        resp = client.post(f"/api/v0/binaries/{sha}/tags/ok", json={"security": "LOW", "comment": "c" * 1001})
    assert resp.status_code == 400


def test_feature_value_tags_are_lower_cased_and_answer_null(env: Env) -> None:
    params = {"feature": "domain", "value": "Evil.Example"}
    with env.client("low") as client:
        created = client.post("/api/v0/features/tags/Bad-Domain", params=params, json={"security": "LOW"})
        assert created.status_code == 200 and created.content == b"null"
        listed = client.get("/api/v0/features/tags/bad-domain").json()["data"]["items"]
        assert [(i["feature_name"], i["feature_value"], i["tag"]) for i in listed] == [
            ("domain", "Evil.Example", "bad-domain")]
        refused = client.post("/api/v0/features/tags/no!", params=params, json={"security": "LOW"})
        assert refused.status_code == 400
        deleted = client.delete("/api/v0/features/tags/BAD-DOMAIN", params=params)
        assert deleted.status_code == 200 and deleted.content == b"null"
        assert client.get("/api/v0/features/tags/bad-domain").json()["data"]["items"] == []


def test_feature_value_tags_whose_pivots_read_alike_are_both_kept(env: Env) -> None:
    """Feature a.b with value c and feature a with value b.c are both pivot "a.b.c" in Azul's
    document id: the second tag must not replace the first."""
    with env.client("low") as client:
        for feature, value in (("dotted.name", "value"), ("dotted", "name.value")):
            resp = client.post("/api/v0/features/tags/alike", params={"feature": feature, "value": value},
                               json={"security": "LOW"})
            assert resp.status_code == 200, resp.text
        listed = client.get("/api/v0/features/tags/alike").json()["data"]["items"]
    assert sorted((i["feature_name"], i["feature_value"]) for i in listed) == [
        ("dotted", "name.value"), ("dotted.name", "value")]


def test_find_items_carry_each_binarys_own_visible_tags(env: Env) -> None:
    """A page of finds reads its tags in one call (``find.tags_of_many``): each item still gets
    only its own tags, and only those the caller may see."""
    first, second, untagged = (binary(env, data * 10) for data in (b"page one", b"page two", b"page three"))
    assert tag(env, "low", first, "page-low").status_code == 200
    assert tag(env, "med", first, "page-med", MED).status_code == 200
    assert tag(env, "low", second, "page-two").status_code == 200
    for user, expected in (("low", {first: ["page-low"], second: ["page-two"], untagged: []}),
                           ("med", {first: ["page-low", "page-med"], second: ["page-two"], untagged: []})):
        with env.client(user) as client:
            resp = client.post("/api/v0/binaries", json={"hashes": [first, second, untagged]})
        assert resp.status_code == 200, resp.text
        items = resp.json()["data"]["items"]
        assert {i["sha256"]: sorted(t["tag"] for t in i.get("tags") or ()) for i in items} == expected
        assert all(t["sha256"] == i["sha256"] for i in items for t in i.get("tags") or ())
