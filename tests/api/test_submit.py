"""Submissions over real HTTP (inventory §2.3, §7.1-7.3): what is stored and published, the errors,
and that a refused submission leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from azul_metastore.events import topics
from tests.support.submissions import CONTENT, FAKE_SHA256, Env, make_zip, serve, sha256, submit, unwrap

LOW, MED = "LOW", "MEDIUM REL:APPLE"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(tmp_path_factory.mktemp("submit")) as e:
        yield e


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Small limits, so hostile archives are cheap to build."""
    with serve(tmp_path_factory.mktemp("limited"), extract_max_members=3, extract_max_total_bytes=3 * 1024 * 1024,
               extract_max_upload_bytes=1024 * 1024, upload_max_bytes=2 * 1024 * 1024, extract_max_path_length=40,
               malpz_max_bytes=64 * 1024) as e:
        yield e


def ok(resp) -> list[dict]:
    assert resp.status_code == 200, resp.text
    return resp.json()


# --- source submissions -------------------------------------------------------------------------


def test_a_cart_upload_is_unwrapped_stored_published_and_indexed(env: Env) -> None:
    start = env.svc.event_log.end_offset(topics.BINARY)
    (item,) = ok(submit(env, "med", CONTENT / "fake.txt.cart", filename="dir\\fake.txt", fields={"security": MED},
                        params={"refresh": "true"}))
    assert item["sha256"] == FAKE_SHA256 and item["filename"] == "dir\\fake.txt" and item["label"] == "content"
    assert item["track_source_references"].startswith("samples.") and item["file_format"] == "text/plain"
    assert item["size"] == 121 and item["md5"] and item["ssdeep"]
    (event,) = [e for e in env.events(topics.BINARY, start) if e["entity"]["sha256"] == FAKE_SHA256]
    assert event["action"] == "sourced" and event["author"] == {"category": "user", "name": "med", "security": MED}
    node = event["source"]["path"][0]
    assert node["filename"] == "fake.txt" and node["size"] == 121 and node["author"]["name"] == "med"
    assert event["source"]["references"] == {"user": "bob"} and event["source"]["security"] == MED
    features = {(f["name"], f["value"]) for f in event["entity"]["features"]}
    expected = {("filename", "dir\\fake.txt"), ("submission_file_extension", "txt"), ("file_format", "text/plain")}
    assert expected <= features
    expedited = [e for e in env.events(topics.BINARY_EXPEDITE) if e["entity"]["sha256"] == FAKE_SHA256]
    assert expedited and expedited[-1]["flags"]["expedite"] is True
    # refresh: searchable at once, by whom the security allows
    assert env.svc.index.documents([FAKE_SHA256], env.access("med"))
    assert env.svc.index.documents([FAKE_SHA256], env.access("low")) == []


@pytest.mark.parametrize("name", ["fake.txt", "fake.txt.malpz", "fake.txt.cart"])
def test_plain_cart_and_malpz_uploads_store_the_same_bytes(env: Env, name: str) -> None:
    (item,) = ok(submit(env, "low", CONTENT / name, filename="fake.txt"))
    assert item["sha256"] == FAKE_SHA256
    assert env.svc.blobs.head("samples", "content", FAKE_SHA256) is not None


def test_settings_gain_remove_at_depth_and_the_passwords_setting_opens_archives(env: Env) -> None:
    start = env.svc.event_log.end_offset(topics.BINARY)
    items = ok(submit(env, "low", CONTENT / "fake_infected.zip", part_name=None, filename=None,
                      fields={"settings": json.dumps({"passwords": "nope;infected"})}, params={"extract": "true"}))
    assert sorted(i["filename"] for i in items) == ["fake.txt", "fake_meta.txt"]
    events = env.events(topics.BINARY, start)
    assert all(e["source"]["settings"] == {"passwords": "nope;infected", "remove_at_depth": "2"} for e in events)


def test_a_password_zip_is_one_submission_per_member_and_each_downloads_in_every_format(env: Env,
                                                                                          tmp_path: Path) -> None:
    items = ok(submit(env, "low", CONTENT / "fake_infected.zip", part_name=None, filename=None,
                      params={"extract": "true", "password": "infected"}))
    by_name = {i["filename"]: i for i in items}
    assert sorted(by_name) == ["fake.txt", "fake_meta.txt"]
    for name, item in by_name.items():
        expected = (CONTENT / name).read_bytes()
        assert item["sha256"] == sha256(expected)
        with env.client("low") as client:
            for fmt in ("cart", "malpz", "zip"):
                resp = client.get(f"/api/v0/binaries/{item['sha256']}/content", params={"format": fmt})
                assert resp.status_code == 200, resp.text
                (inner,) = unwrap(fmt, resp.content, tmp_path / fmt).values()
                assert sha256(inner) == item["sha256"], fmt


@pytest.mark.parametrize(("name", "expected"), [("fake.tar.gz", ["fake.txt"]), ("zipped.cart.zip", ["fake.txt"]),
                                                ("fake.zip", ["fake.txt"])])
def test_tar_and_zip_members_are_extracted_and_cart_members_unwrapped(env: Env, name: str,
                                                                       expected: list[str]) -> None:
    items = ok(submit(env, "low", CONTENT / name, part_name=name, filename=None, params={"extract": "true"}))
    assert [i["filename"] for i in items] == expected
    assert {i["sha256"] for i in items} == {FAKE_SHA256}


def test_alternate_streams_are_stored_under_their_labels(env: Env) -> None:
    report = b"a plugin report\n" * 20
    (item,) = ok(submit(env, "low", b"MZ binary with a report" * 10, streams=[("report", report)]))
    assert env.svc.blobs.head("samples", "report", sha256(report)) is not None
    doc = env.svc.index.documents([item["sha256"]], env.access("low"))[0]
    assert {(d["label"], d["sha256"]) for d in doc["datastreams"]} == {("content", item["sha256"]),
                                                                        ("report", sha256(report))}


def test_a_future_timestamp_is_clamped_to_now(env: Env) -> None:
    start = env.svc.event_log.end_offset(topics.BINARY)
    ok(submit(env, "low", b"from the future", fields={"timestamp": "2999-01-01T00:00:00Z"}))
    (event,) = env.events(topics.BINARY, start)
    assert event["source"]["timestamp"] < "2999"


# --- refusals: documented status, a message, and nothing stored ----------------------------------

REFUSALS = [
    ({"source_id": "nowhere"}, {}, 400, "not configured"),
    ({"references": None}, {}, 400, "requires the references user"),
    ({"references": json.dumps({"user": "bob", "colour": "red"})}, {}, 400, "no references named colour"),
    ({"references": "{not json"}, {}, 422, "not valid JSON"),
    ({"references": "[1, 2]"}, {}, 422, "JSON object"),
    ({"settings": json.dumps({"a": {"b": 1}})}, {}, 422, "must be a string"),
    ({"security": ""}, {}, 422, "security is required"),
    ({"security": "LOW BOGUS"}, {}, 422, "unknown label"),
    ({"security": MED}, {}, 422, "you may not assign"),
    ({"timestamp": "yesterday"}, {}, 422, "not ISO 8601"),
    ({"timestamp": None}, {}, 422, "timestamp is required"),
    ({"timestamp": "0001-01-01T00:00:00+01:00"}, {}, 422, "out of range"),
    ({"stream_labels": ["report", "text"]}, {}, 422, "stream_labels"),
]


@pytest.mark.parametrize(("fields", "params", "status", "message"), REFUSALS)
def test_bad_input_is_refused_before_anything_is_stored(env: Env, fields: dict, params: dict, status: int,
                                                        message: str) -> None:
    before = env.snapshot()
    resp = submit(env, "low", b"refused bytes " + message.encode(), fields=fields, params=params,
                  streams=[("text", b"stream bytes " + message.encode())])
    assert resp.status_code == status, resp.text
    assert message in resp.json()["message"]
    assert env.snapshot() == before


def test_a_submission_whose_event_is_over_the_event_limit_is_refused_on_every_event_log(env: Env) -> None:
    """Posted events are held to max_event_bytes; the metastore's own were not: a 900 KB file name
    and reference made a 2.7 MB event, which SQLite took and Kafka refused. Nothing is published."""
    start = env.svc.event_log.end_offset(topics.BINARY)
    big = "x" * 900_000
    resp = submit(env, "low", b"bytes of a long-named file", filename=big + ".exe",
                  fields={"references": json.dumps({"user": big})})
    assert resp.status_code == 422, resp.text
    assert f"over the limit of {env.svc.settings.max_event_bytes} bytes per event" in resp.json()["message"]
    assert env.svc.event_log.end_offset(topics.BINARY) == start


def test_alternate_streams_cannot_be_labelled_content(env: Env) -> None:
    before = env.snapshot()
    resp = submit(env, "low", b"x" * 100, streams=[("content", b"y" * 100)])
    assert resp.status_code == 422 and "cannot be labelled 'content'" in resp.json()["message"]
    assert env.snapshot() == before


def test_a_submission_without_a_binary_is_refused(env: Env) -> None:
    resp = submit(env, "low", None)
    assert resp.status_code == 422 and "binary is required" in resp.json()["message"]


def _zip_bomb() -> bytes:
    return make_zip({"zeros.bin": b"\0" * (4 * 1024 * 1024)})


_BITS = [format(i, "08b").translate(str.maketrans("01", "ab")).encode() for i in range(256)]


def _two_letters(n: int) -> bytes:
    """8n bytes of random 'a'/'b': compresses about 7 times, below any bomb ratio."""
    return b"".join(_BITS[b] for b in os.urandom(n))


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _encrypted() -> bytes:
    import pyzipper

    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", encryption=pyzipper.WZ_AES) as zf:
        zf.setpassword(b"secret")
        zf.writestr("inside.txt", b"hidden")
    return buf.getvalue()


HOSTILE = [
    ("bomb", _zip_bomb, {}, 422, "ratio_exceeded"),
    ("many", lambda: make_zip({f"f{i}": bytes([i]) * 10 for i in range(5)}), {}, 422, "too_many_members"),
    ("traversal", lambda: make_zip({"a/../../etc/passwd": b"root"}), {}, 422, "path_traversal"),
    ("absolute", lambda: _tar({"/etc/passwd": b"root"}), {}, 422, "path_traversal"),
    ("long", lambda: make_zip({"d/" * 30 + "x": b"long"}), {}, 422, "path_too_long"),
    ("big-archive", lambda: make_zip({f"r{i}": bytes(range(256)) * 2000 for i in range(3)},
                                     compression=zipfile.ZIP_STORED), {}, 422, "archive_too_large"),
    ("big-total", lambda: make_zip({"a": _two_letters(220_000), "b": _two_letters(220_000)}), {}, 422,
     "total_size_exceeded"),
    ("not-zip", lambda: b"just some text, not an archive", {}, 422, "not_an_archive"),
    ("no-password", _encrypted, {}, 422, "password_required"),
    ("bad-password", _encrypted, {"password": "wrong"}, 422, "bad_password"),
    ("empty", lambda: make_zip({"empty.txt": b""}), {}, 422, "empty_archive"),
]


@pytest.mark.parametrize(("case", "build", "params", "status", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_archives_are_refused_with_their_reason(limited: Env, case: str, build, params: dict, status: int,
                                                        reason: str) -> None:
    before = limited.snapshot()
    resp = submit(limited, "low", build(), part_name=None, filename=None, params={"extract": "true", **params})
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]["parameters"]["reason"] == reason
    assert limited.snapshot() == before


def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(limited: Env) -> None:
    before = limited.snapshot()
    resp = submit(limited, "low", b"\x01" * (3 * 1024 * 1024))
    assert resp.status_code == 413 and "larger than the limit" in resp.json()["message"]
    assert limited.snapshot() == before


def test_a_malpz_over_its_cap_is_refused(limited: Env) -> None:
    from azul_metastore.content.neuter import malpz_chunks

    wrapped = b"".join(malpz_chunks([bytes(range(256)) * 1024], classification="LOW"))
    resp = submit(limited, "low", wrapped)
    assert resp.status_code == 422 and resp.json()["detail"]["parameters"]["reason"] == "malpz_too_large"


def test_a_malformed_form_is_400(env: Env) -> None:
    with env.client("low") as client:
        resp = client.post("/api/v0/binaries/source", content=b"not a form",
                           headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert resp.status_code == 400
        # a boundary the multipart parser refuses (over 70 characters) answered 500
        long = client.post("/api/v0/binaries/source", content=b"--" + b"b" * 300 + b"--\r\n",
                           headers={"content-type": "multipart/form-data; boundary=" + "b" * 300})
    assert long.status_code == 400 and "boundary" in long.json()["message"]


# --- dataless and child submissions ----------------------------------------------------------------


def test_dataless_submission_adds_a_source_without_bytes(env: Env) -> None:
    (item,) = ok(submit(env, "low", b"dataless origin bytes" * 5))
    start = env.svc.event_log.end_offset(topics.BINARY)
    (again,) = ok(submit(env, "low", None, path="/api/v0/binaries/source/dataless",
                         fields={"sha256": item["sha256"], "source_id": "virustotal", "references": None},
                         streams=[("text", b"strings of it")]))
    assert again["sha256"] == item["sha256"] and again["sha512"] == item["sha512"]
    (event,) = env.events(topics.BINARY, start)
    assert event["source"]["name"] == "virustotal" and len(event["entity"]["datastreams"]) == 2
    assert env.svc.blobs.head("virustotal", "content", item["sha256"]) is not None
    assert env.svc.blobs.head("virustotal", "text", sha256(b"strings of it")) is not None


def test_dataless_submission_of_an_unknown_or_hidden_binary_is_404(env: Env) -> None:
    (hidden,) = ok(submit(env, "med", b"medium only bytes" * 5, fields={"security": MED}))
    for sha in (hidden["sha256"], "0" * 64):
        before = env.snapshot()
        resp = submit(env, "low", None, path="/api/v0/binaries/source/dataless", fields={"sha256": sha})
        assert resp.status_code == 404, resp.text
        assert env.snapshot() == before


def test_a_child_is_inserted_below_every_submission_of_its_parent(env: Env) -> None:
    (parent,) = ok(submit(env, "low", b"parent of a child" * 5))
    ok(submit(env, "low", None, path="/api/v0/binaries/source/dataless",
              fields={"sha256": parent["sha256"], "source_id": "virustotal", "references": None}))
    start, inserts = env.svc.event_log.end_offset(topics.BINARY), env.svc.event_log.end_offset(topics.INSERT)
    child_bytes = b"the child itself" * 5
    (child,) = ok(submit(env, "low", child_bytes, path="/api/v0/binaries/child", filename="c/child.exe",
                         fields={"source_id": None, "references": None, "parent_sha256": parent["sha256"],
                                 "relationship": json.dumps({"action": "dropped"}), "parent_type": "binary"}))
    assert child["sha256"] == sha256(child_bytes) and "track_source_references" not in child
    events = env.events(topics.BINARY, start)
    assert sorted(e["source"]["name"] for e in events) == ["samples", "virustotal"]
    for event in events:
        assert event["action"] == "extracted"
        assert [n["sha256"] for n in event["source"]["path"]] == [parent["sha256"], child["sha256"]]
        assert event["source"]["path"][-1]["relationship"] == {"action": "dropped"}
        assert event["source"]["path"][-1]["filename"] == "child.exe"
        assert event["track_links"] and event["track_source_references"].startswith(event["source"]["name"])
    (insert,) = env.events(topics.INSERT, inserts)
    assert insert["entity"]["parent_sha256"] == parent["sha256"] and insert["track_link"]
    for source in ("samples", "virustotal"):
        assert env.svc.blobs.head(source, "content", child["sha256"]) is not None
    assert env.svc.index.documents([child["sha256"]], env.access("low"))


def test_child_dataless_links_two_known_binaries(env: Env) -> None:
    (parent,) = ok(submit(env, "low", b"dataless parent" * 5))
    (other,) = ok(submit(env, "low", b"dataless child" * 5))
    start = env.svc.event_log.end_offset(topics.BINARY)
    ok(submit(env, "low", None, path="/api/v0/binaries/child/dataless",
              fields={"source_id": None, "references": None, "sha256": other["sha256"],
                      "parent_sha256": parent["sha256"], "relationship": json.dumps({"action": "linked"})}))
    (event,) = env.events(topics.BINARY, start)
    assert [n["sha256"] for n in event["source"]["path"]] == [parent["sha256"], other["sha256"]]


def test_a_child_of_an_invisible_parent_is_refused(env: Env) -> None:
    (hidden,) = ok(submit(env, "med", b"secret parent" * 5, fields={"security": MED}))
    before = env.snapshot()
    resp = submit(env, "low", b"orphan", path="/api/v0/binaries/child",
                  fields={"source_id": None, "parent_sha256": hidden["sha256"], "relationship": "{}"})
    assert resp.status_code == 422 and "was not found" in resp.json()["message"]
    assert env.snapshot() == before


# --- expedite and read-only mode -----------------------------------------------------------------------


def test_expedite_republishes_the_submissions_with_the_flag(env: Env) -> None:
    (item,) = ok(submit(env, "low", b"expedite me" * 5))
    start = env.svc.event_log.end_offset(topics.BINARY_EXPEDITE)
    with env.client("low") as client:
        resp = client.post(f"/api/v0/binaries/{item['sha256']}/expedite", params={"bypass_cache": "true"})
    assert resp.status_code == 200 and resp.json() is True
    (event,) = env.events(topics.BINARY_EXPEDITE, start)
    assert event["flags"] == {"expedite": True, "bypass_cache": True, "retry": False}
    assert event["action"] == "sourced" and event["entity"]["sha256"] == item["sha256"]


def test_expedite_of_a_hidden_binary_answers_true_and_does_nothing(env: Env) -> None:
    (hidden,) = ok(submit(env, "med", b"hidden expedite" * 5, fields={"security": MED}))
    before = env.snapshot()
    with env.client("low") as client:
        resp = client.post(f"/api/v0/binaries/{hidden['sha256']}/expedite")
    assert resp.status_code == 200 and resp.json() is True
    assert env.snapshot() == before


def test_read_only_mode_refuses_every_write_with_423(tmp_path: Path) -> None:
    sha = "a" * 64
    with serve(tmp_path, readonly_mode=True) as ro:
        before = ro.snapshot()
        for path in ("/api/v0/binaries/source", "/api/v0/binaries/source/dataless", "/api/v0/binaries/child",
                     "/api/v0/binaries/child/dataless"):
            assert submit(ro, "low", b"x", path=path).status_code == 423
        with ro.client("low") as client:
            writes = [client.post(f"/api/v0/binaries/{sha}/expedite"),
                      client.post(f"/api/v0/binaries/{sha}/tags/t", json={"security": "LOW"}),
                      client.delete(f"/api/v0/binaries/{sha}/tags/t"),
                      client.post("/api/v0/features/tags/t", params={"feature": "f", "value": "v"}, json={}),
                      client.delete("/api/v0/features/tags/t", params={"feature": "f", "value": "v"}),
                      client.post("/api/v0/binaries/source/download", json={"sha256": sha, "source_id": "samples"})]
        assert [r.status_code for r in writes] == [423] * len(writes)
        assert "read-only" in writes[0].json()["message"]
        assert ro.snapshot() == before


# --- external download requests ------------------------------------------------------------------------


def test_a_download_request_is_published_and_its_status_shown(env: Env) -> None:
    sha = "b" * 64
    start = env.svc.event_log.end_offset(topics.DOWNLOAD)
    with env.client("low") as client:
        assert client.get(f"/api/v0/binaries/source/download/{sha}").status_code == 404
        resp = client.post("/api/v0/binaries/source/download",
                           json={"sha256": sha, "source_id": "virustotal", "security": "LOW"})
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["sha256"] == sha and data["last_download_author_name"] == "low" and data["plugin_statuses"] == []
        shown = client.get(f"/api/v0/binaries/source/download/{sha}", params={"include_download_requests": "true"})
        assert [s["entity"]["status"] for s in shown.json()["data"]] == ["download-requested"]
        assert client.get(f"/api/v0/binaries/source/download/{sha}").json()["data"] == []
        refused = client.post("/api/v0/binaries/source/download",
                              json={"sha256": sha, "source_id": "virustotal", "security": MED})
        assert refused.status_code == 422
    (event,) = env.events(topics.DOWNLOAD, start)
    assert event["action"] == "requested" and event["entity"]["hash"] == sha
