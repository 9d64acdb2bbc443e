"""One sha256 submitted twice under two different security labels, read back over real HTTP.

Why: a binary's metadata is the union of its submissions, each with its own security. A reader must
see exactly the submissions their labels allow (never the other one's security, references or
source), may download the bytes if they can see any submission, and a reader who can see none must
get the same 404 as for a binary that was never submitted: a 403 would reveal that it exists.

Labels (tests/support/security.py): ``med`` holds LOW MEDIUM REL:APPLE, ``high_org2`` holds
LOW MEDIUM HIGH MOD1 REL:BEE, ``low`` holds only LOW and ``high_all`` holds every label. A
releasability set must include the origin REL:APPLE, so the second label carries it too; ``med``
still cannot read it (no HIGH, no MOD1) and ``high_org2`` cannot read the first (no REL:APPLE).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.submissions import Env, serve, sha256, submit, unwrap

APPLE = "MEDIUM REL:APPLE"
BEE = "HIGH MOD1 REL:APPLE REL:BEE"
DATA = b"the same bytes under two labels\n" * 32
SHA = sha256(DATA)
ABSENT = "0" * 64

#: which submission (by its ``user`` reference) each reader may see
VISIBLE = {"med": {"apple"}, "high_org2": {"bee"}, "high_all": {"apple", "bee"}, "low": set()}
#: the security each submission reads back with (the server's normalised form)
SECURITY_OF = {"apple": APPLE, "bee": "HIGH MOD1 REL:APPLE,BEE"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A server holding DATA twice: once as ``med`` under APPLE, once as ``high_org2`` under BEE."""
    with serve(tmp_path_factory.mktemp("two_labels")) as e:
        for user, ref, security in (("med", "apple", APPLE), ("high_org2", "bee", BEE)):
            resp = submit(e, user, DATA, fields={"security": security, "references": json.dumps({"user": ref})})
            assert resp.status_code == 200, resp.text
            assert resp.json()[0]["sha256"] == SHA
        yield e


def direct_submissions(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for source in meta["sources"] for d in source["direct"]]


@pytest.mark.parametrize("user", ["med", "high_org2", "high_all"])
def test_a_holder_sees_exactly_the_submissions_their_labels_allow(env: Env, user: str) -> None:
    with env.client(user) as client:
        assert client.head(f"/api/v0/binaries/{SHA}").status_code == 200
        resp = client.get(f"/api/v0/binaries/{SHA}")
    assert resp.status_code == 200, resp.text
    meta = resp.json()["data"]
    seen = direct_submissions(meta)
    assert {d["references"]["user"] for d in seen} == VISIBLE[user]
    assert sorted(d["security"] for d in seen) == sorted(SECURITY_OF[r] for r in VISIBLE[user])
    assert sorted(meta["security"]) == sorted(SECURITY_OF[r] for r in VISIBLE[user])
    hidden = {"apple", "bee"} - VISIBLE[user]
    text = resp.text
    for ref in hidden:  # nothing of the other submission leaks anywhere in the answer
        assert f'"{ref}"' not in text and SECURITY_OF[ref] not in text


@pytest.mark.parametrize("user", ["med", "high_org2"])
def test_a_holder_of_one_label_can_download_the_bytes(env: Env, user: str, tmp_path: Path) -> None:
    with env.client(user) as client:
        assert client.head(f"/api/v0/binaries/{SHA}/content").status_code == 200
        resp = client.get(f"/api/v0/binaries/{SHA}/content")
        assert resp.status_code == 200
        assert unwrap("cart", resp.content, tmp_path) == {"cart": DATA}
        hexview = client.get(f"/api/v0/binaries/{SHA}/hexview")
        strings = client.get(f"/api/v0/binaries/{SHA}/strings")
    assert hexview.status_code == 200 and strings.status_code == 200
    assert any("the same bytes under two labels" in s["string"] for s in strings.json()["strings"])


READS = [
    ("HEAD", ""),
    ("GET", ""),
    ("HEAD", "/content"),
    ("GET", "/content"),
    ("GET", "/hexview"),
    ("GET", "/strings"),
]


@pytest.mark.parametrize(("method", "suffix"), READS)
def test_a_user_holding_neither_label_gets_404_not_403(env: Env, method: str, suffix: str) -> None:
    with env.client("low") as client:
        hidden = client.request(method, f"/api/v0/binaries/{SHA}{suffix}")
        absent = client.request(method, f"/api/v0/binaries/{ABSENT}{suffix}")
    assert hidden.status_code == 404, hidden.text
    assert absent.status_code == 404
    if method == "GET":  # the refusal reads as for a binary that never existed (bar the request's ref)
        assert refusal(hidden.json()) == refusal(absent.json()).replace(ABSENT, SHA)


def refusal(body: dict[str, Any]) -> str:
    """An error body without its per-request reference ids, for comparison."""
    return json.dumps({k: v for k, v in body.items() if k != "ref"} | {"detail": {
        k: v for k, v in body.get("detail", {}).items() if k != "ref"}}, sort_keys=True)
