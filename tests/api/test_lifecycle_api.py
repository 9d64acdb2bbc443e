"""Purge, reprocess and plugin-failure routes over real HTTP: admin only where they change things,
Azul's response shapes, and the failure listing filtered by what the caller may see."""

from __future__ import annotations

import time

import orjson

from azul_metastore.app import Services
from azul_metastore.events import topics
from azul_metastore.events.dispatch import ConsumerFilters
from azul_metastore.lifecycle.jobs import lifecycle
from tests.support.events import binary_event
from tests.support.multiuser import as_user, multi_server, multi_services, post_events  # noqa: F401 - fixtures

LOW, MED = "LOW TLP:CLEAR", "MEDIUM REL:APPLE"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def populate(server: str) -> None:
    post_events(server, "binary", [
        binary_event(sha256=A, security=LOW),
        binary_event(sha256=B, security=LOW, action="extracted", parent=A, author="unzip"),
        binary_event(sha256=C, security=MED, timestamp="2024-02-01T00:00:00+00:00"),
    ])


def test_purge_needs_an_admin(multi_server: str) -> None:  # noqa: F811
    populate(multi_server)
    with as_user(multi_server, "high_all") as client:
        resp = client.delete(f"/api/v0/purge/binary/{A}", params={"purge": "true"})
    assert resp.status_code == 403
    with as_user(multi_server, "admin") as client:
        assert client.delete(f"/api/v0/purge/binary/{A}").json()["data"] == {"events": 1}


def test_purge_binary_simulate_then_purge(multi_server: str, multi_services: Services) -> None:  # noqa: F811
    populate(multi_server)
    with as_user(multi_server, "admin") as client:
        resp = client.delete(f"/api/v0/purge/binary/{A}", params={"purge": "true"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["data"] == {"events_purged": 2, "binaries_kept": 0, "binaries_purged": 0}
        again = client.delete(f"/api/v0/purge/binary/{A}", params={"purge": "true"})
        assert again.status_code == 400 and "nothing to purge" in again.json()["message"]
        bad = client.delete("/api/v0/purge/submission/x", params={"timestamp": "last tuesday"})
        assert bad.status_code == 400
        missing = client.delete("/api/v0/purge/submission/x")
        assert missing.status_code == 422
    system = lifecycle(multi_services).system
    assert multi_services.index.documents([A, B], system) == []


def test_purge_submission_and_link_routes(multi_server: str, multi_services: Services) -> None:  # noqa: F811
    populate(multi_server)
    system = lifecycle(multi_services).system
    link = multi_services.index.documents([B], system)[0]["track_link"]
    tsr = multi_services.index.documents([C], system)[0]["track_source_references"]
    with as_user(multi_server, "admin") as client:
        assert client.delete(f"/api/v0/purge/link/{link}").json()["data"] == {"events": 1}
        assert client.delete(f"/api/v0/purge/link/{link}", params={"purge": True}).json()["data"][
            "events_purged"] == 1
        resp = client.delete(f"/api/v0/purge/submission/{tsr}",
                             params={"timestamp": "2024-02-01T00:00:00Z", "purge": True})
        assert resp.json()["data"]["events_purged"] == 1
    assert multi_services.index.documents([B, C], system) == []
    assert multi_services.index.documents([A], system)


def test_purge_with_a_timestamp_out_of_range_is_refused(multi_server: str) -> None:  # noqa: F811
    with as_user(multi_server, "admin") as client:
        resp = client.delete("/api/v0/purge/submission/samples.x",
                             params={"timestamp": "9999-12-31T23:59:59-01:00"})
    assert resp.status_code == 400, resp.text
    assert "out of range" in resp.json()["message"]


def test_reprocess_dry_run_and_job(multi_server: str, multi_services: Services) -> None:  # noqa: F811
    populate(multi_server)
    with as_user(multi_server, "low") as client:
        assert client.post("/api/v0/binaries/reprocess", params={"dry_run": True}).status_code == 403
    with as_user(multi_server, "admin") as client:
        dry = client.post("/api/v0/binaries/reprocess", params={"term": f"sha256:{A}", "dry_run": True})
        assert dry.status_code == 200, dry.text
        assert dry.json()["data"] == {"count": 1}
        started = client.post("/api/v0/binaries/reprocess", params={"term": "", "plugin": "p"}).json()["data"]
        assert started["count"] == 3
        deadline = time.monotonic() + 20
        while (job := client.get(f"/api/v0/binaries/reprocess/{started['job']}").json()["data"])["state"] != "done":
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["published"] == 3 and job["total"] == 3
        assert client.get("/api/v0/binaries/reprocess/nope").status_code == 404
    lane = [orjson.loads(r.value) for r in multi_services.event_log.read(topics.retry_lane("p"), 0, 10)]
    assert {e["entity"]["sha256"] for e in lane} == {A, B, C}
    assert all(e["flags"]["bypass_cache"] for e in lane)


def test_failures_listed_and_retried(multi_server: str, multi_services: Services) -> None:  # noqa: F811
    populate(multi_server)
    lanes = multi_services.dispatch.binary_topics("p", False, False, False, True)
    taken = multi_services.dispatch.get_events("binary", "p", "1", 10, 0, True, ConsumerFilters(), lanes).events
    statuses = [{"model_version": 6, "kafka_key": "tmp", "timestamp": e["timestamp"],
                 "author": {"name": "p", "category": "plugin", "version": "1"},
                 "entity": {"status": "error-exception", "error": "boom", "input": e}} for e in taken]
    post_events(multi_server, "status", statuses)
    lifecycle(multi_services).lost_tasks().run_once()
    with as_user(multi_server, "low") as client:
        listed = client.get("/api/v0/plugins/p/failures").json()["data"]
        assert {f["sha256"] for f in listed} == {A, B}  # C is MEDIUM
        assert {(f["status"], f["error"], f["attempts"], f["state"]) for f in listed} == {
            ("error-exception", "boom", 1, "failed")}
        assert client.post("/api/v0/plugins/p/failures/retry").status_code == 403
    with as_user(multi_server, "high_all") as client:
        assert len(client.get("/api/v0/plugins/p/failures").json()["data"]) == 3
        assert client.get("/api/v0/plugins/p/failures", params={"status": "error-timeout"}).json()["data"] == []
    with as_user(multi_server, "admin") as client:
        assert client.post("/api/v0/plugins/p/failures/retry",
                           params={"status": "error-exception"}).json()["data"] == {"retried": 3}
        assert client.post("/api/v0/plugins/p/failures/retry").json()["data"] == {"retried": 0}
    assert multi_services.event_log.end_offset(topics.retry_lane("p")) == 3
