"""The whole metastore on the scale-out stack (OpenSearch index, Kafka event log, S3 blobs), driven as
an operator and a client would: ``azul-metastore serve`` as a real process, everything else through
HTTP or the CLI. The embedded suites prove each piece; this proves they fit together on the real
servers (issue 10): submit, plugin results through ``/api/v2``, search, summary, similarity,
download, age-off and purge, and every seed CLI command on these backends.

Each test gets its own OpenSearch partition, Kafka topic prefix and S3 bucket, so runs never meet.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tlsh

from tests.support.events import CONTENT, binary_event
from tests.support.multiuser import plugin_event
from tests.support.partitions import drop_partition
from tests.support.server import free_port, wait_for_http

pytestmark = [pytest.mark.opensearch, pytest.mark.kafka, pytest.mark.s3, pytest.mark.slow]
EXE = Path(sys.executable).parent / "azul-metastore"
SOURCES = {
    "samples": {"references": [{"name": "user", "required": True}]},
    "aging": {"references": [{"name": "user"}],
              "description": "kept forever while served; the age-off run below gives it one day"},
}
AGED_SOURCES = {**SOURCES, "aging": {**SOURCES["aging"], "expire_events_after": "1 days"}}
AGED_FILE = CONTENT / "0ca0bafc3d3fd6960c7f7bc6c63064279746bab14ea7aaed735f43049c9627dc.txt"
_rng = random.Random(11)
BLOB = bytes(_rng.getrandbits(8) for _ in range(4_000))
TLSH = tlsh.hash(BLOB)
NEAR_TLSH = tlsh.hash(BLOB[:3_000] + bytes(_rng.getrandbits(8) for _ in range(1_000)))


@pytest.fixture
def scaleout_env(tmp_path: Path, opensearch_url: str, kafka_bootstrap: str,
                 s3_endpoint: dict[str, str]) -> Iterator[dict[str, str]]:
    """Environment of a fresh deployment on the real servers; its indices are deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    env = {**os.environ,
           "METASTORE_DATA_DIR": str(tmp_path / "data"),
           "METASTORE_INDEX_BACKEND": "opensearch", "METASTORE_OPENSEARCH_URL": opensearch_url,
           "METASTORE_PARTITION": f"e2e{tag}",
           "METASTORE_EVENTS_BACKEND": "kafka", "METASTORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "METASTORE_KAFKA_TOPIC_PREFIX": f"e2e-{tag}",
           "METASTORE_BLOB_BACKEND": "s3", "METASTORE_S3_ENDPOINT_URL": s3_endpoint["endpoint_url"],
           "METASTORE_S3_ACCESS_KEY": s3_endpoint["aws_access_key_id"],
           "METASTORE_S3_SECRET_KEY": s3_endpoint["aws_secret_access_key"],
           "METASTORE_S3_REGION": s3_endpoint["region_name"], "METASTORE_S3_BUCKET": f"e2e-{tag}",
           "METASTORE_AUTH_OPEN": "true", "METASTORE_PROMETHEUS_PORT": "0",
           "METASTORE_INGEST_POLL_SECONDS": "0.2", "METASTORE_SOURCES": json.dumps(SOURCES)}
    yield env
    drop_partition(opensearch_url, env["METASTORE_PARTITION"])


def cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run one ``azul-metastore`` command as an operator would, with the deployment's settings."""
    return subprocess.run([str(EXE), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def wait_until(check: Any, what: str, timeout: float = 90) -> None:
    """Poll: the ingestors index asynchronously from Kafka, so every read after a write waits."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def submit(client: httpx.Client, path: Path, source: str, timestamp: str) -> str:
    form = {"source_id": source, "references": json.dumps({"user": "bob"}), "timestamp": timestamp,
            "filename": path.name, "security": "OFFICIAL"}
    resp = client.post("/api/v0/binaries/source", params={"extract": "false"}, data=form,
                       files=[("binary", (path.name, path.read_bytes(), "application/octet-stream"))])
    assert resp.status_code == 200, resp.text
    return hashlib.sha256(path.read_bytes()).hexdigest()


def found(client: httpx.Client, term: str) -> list[str]:
    resp = client.post("/api/v0/binaries", json={"hashes": []}, params={"term": term})
    if resp.status_code == 422:  # the feature is not in the model yet (nothing indexed carries it)
        return []
    assert resp.status_code == 200, resp.text
    return [item["sha256"] for item in resp.json()["data"]["items"]]


def test_scaleout_end_to_end(scaleout_env: dict[str, str], tmp_path: Path) -> None:
    env = scaleout_env
    port = free_port()
    # the server's log goes to a file: OpenSearch request logging would fill a pipe and stall it
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(EXE), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url, timeout=120)
        with httpx.Client(base_url=url, timeout=60) as client:
            _scenario(client, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
    assert code == 0, log.read_text(errors="replace")[-4000:]


def _scenario(client: httpx.Client, env: dict[str, str]) -> None:
    """Submit, post results, read every way, age off, purge: all over HTTP but the age-off run."""
    sha = submit(client, CONTENT / "fake.txt", "samples", "2024-01-01T00:00:00Z")
    aged = submit(client, AGED_FILE, "aging", "2024-01-01T00:00:00Z")
    wait_until(lambda: client.head(f"/api/v0/binaries/{sha}").status_code == 200, "the submission indexed")
    wait_until(lambda: client.head(f"/api/v0/binaries/{aged}").status_code == 200, "the aged one indexed")

    # a plugin posts its registration and its results through the v2 event API
    plugin = plugin_event("e2eplugin", "1.0")
    resp = client.post("/api/v2/event", params={"model": "plugin"}, content=json.dumps([plugin]))
    assert resp.status_code == 200 and resp.json()["total_failures"] == 0, resp.text
    result = binary_event(sha256=sha, action="enriched", author="e2eplugin", version="1.0",
                          timestamp="2024-01-02T00:00:00+00:00",
                          features=[{"name": "e2e_family", "type": "string", "value": "ravenous"}])
    result["entity"]["tlsh"] = TLSH
    near = binary_event(sha256="ab" * 32, source="samples", author="other",
                        features=[{"name": "e2e_family", "type": "string", "value": "other"}])
    near["entity"]["tlsh"] = NEAR_TLSH
    resp = client.post("/api/v2/event", params={"model": "binary"}, content=json.dumps([result, near]))
    assert resp.status_code == 200 and resp.json()["total_failures"] == 0, resp.text

    # search by the plugin's feature
    wait_until(lambda: found(client, 'features_map.e2e_family:"ravenous"') == [sha], "the plugin's result")
    # summary carries the submission and the plugin's feature
    summary = client.get(f"/api/v0/binaries/{sha}").json()["data"]
    assert [s["source"] for s in summary["sources"]] == ["samples"]
    assert ("e2e_family", "ravenous") in [(f["name"], f["value"]) for f in summary["features"]]
    assert f"{sha}.plugin.e2eplugin.enriched" in {i["key"] for i in summary["instances"]}
    # the plugin registration was indexed too
    wait_until(lambda: any(p.get("name") == "e2eplugin" or p.get("author", {}).get("name") == "e2eplugin"
                           for p in _plugins(client)), "the plugin registration")
    # similarity: the other binary is the nearest TLSH neighbour, at the real distance
    wait_until(lambda: client.head(f"/api/v0/binaries/{'ab' * 32}").status_code == 200, "the neighbour")
    matches = client.get("/api/v0/binaries/similar/tlsh", params={"tlsh": TLSH}).json()["data"]["matches"]
    assert {m["sha256"]: m["score"] for m in matches}.get("ab" * 32) == tlsh.diff(TLSH, NEAR_TLSH)
    # download from S3 (neutered CaRT by default; the plain bytes with ?cart=false style params vary)
    download = client.get(f"/api/v0/binaries/{sha}/content")
    assert download.status_code == 200 and len(download.content) > 0

    # age-off with a one-day retention on "aging": its 2024 submission goes, samples stay
    aged_env = {**env, "METASTORE_SOURCES": json.dumps(AGED_SOURCES)}
    done = cli(aged_env, "age-off")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: client.head(f"/api/v0/binaries/{aged}").status_code == 404, "the aged binary gone")
    assert client.get(f"/api/v0/binaries/{aged}/content").status_code == 404
    assert client.head(f"/api/v0/binaries/{sha}").status_code == 200

    # purge as an admin (open mode carries the admin role): simulate, then purge
    simulated = client.delete(f"/api/v0/purge/binary/{sha}")
    assert simulated.status_code == 200 and simulated.json()["data"]["events"] >= 2, simulated.text
    purged = client.delete(f"/api/v0/purge/binary/{sha}", params={"purge": "true"})
    assert purged.status_code == 200, purged.text
    wait_until(lambda: client.head(f"/api/v0/binaries/{sha}").status_code == 404, "the purged binary gone")
    assert client.get(f"/api/v0/binaries/{sha}").status_code == 404
    assert client.get(f"/api/v0/binaries/{sha}/content").status_code == 404
    assert found(client, 'features_map.e2e_family:"ravenous"') == []


def _plugins(client: httpx.Client) -> list[dict[str, Any]]:
    resp = client.get("/api/v0/plugins")
    if resp.status_code != 200:
        return []
    data = resp.json()["data"]
    return [p.get("newest_version", p) if isinstance(p, dict) else {} for p in data] if isinstance(data, list) else []


SEED_COMMANDS = {
    "age-off": ["age-off"],
    "force-update-templates": ["force-update-templates"],
    "ingest-binary": ["ingest-binary", "--once"],
    "ingest-plugin": ["ingest-plugin", "--once"],
    "ingest-status": ["ingest-status", "--once"],
    "process-lost-tasks": ["process-lost-tasks"],
    "purge-simulate": ["purge", "binary", "ab" * 32],
    "apply-opensearch-config": ["apply-opensearch-config", "--print-only"],
}


@pytest.mark.parametrize("args", list(SEED_COMMANDS.values()), ids=list(SEED_COMMANDS))
def test_seed_cli_commands_run_on_the_scaleout_stack(scaleout_env: dict[str, str], args: list[str]) -> None:
    done = cli(scaleout_env, *args)
    assert done.returncode == 0, f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-4000:]}"
