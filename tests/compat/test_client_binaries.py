"""azul-client against our binaries read routes (``/api/v0/binaries...``), in open mode.

The real client (in the compat virtual environment) validates every answer with azul-bedrock's
strict models, so one field too many or too few fails here; the report it writes is then checked
for content. A second test pins our response models' fields to bedrock's.
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import tlsh

from azul_metastore.content import fuzzy
from tests.support.events import binary_event

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("client_binaries_driver.py")
A, B, D = "a" * 64, "b" * 64, "d" * 64
_rng = random.Random(9)
BLOB = bytes(_rng.getrandbits(8) for _ in range(20_000))
NEAR = BLOB[:16_000] + bytes(_rng.getrandbits(8) for _ in range(4_000))
SHARED = [{"name": f"s{i}", "type": "string", "value": f"v{i}"} for i in range(6)]


def seed(url: str) -> None:
    a = binary_event(sha256=A, features=[{"name": "f1", "type": "string", "value": "alpha"}])
    a["entity"].update(tlsh=tlsh.hash(BLOB), ssdeep=fuzzy.hash_bytes(BLOB), md5="0" * 32)
    b = binary_event(sha256=B, features=SHARED)
    b["entity"].update(tlsh=tlsh.hash(NEAR), ssdeep=fuzzy.hash_bytes(NEAR))
    d = binary_event(sha256=D, action="extracted", author="unzip", parent=A, features=[])
    enriched = binary_event(sha256=A, action="enriched", author="p",
                            features=[{"name": "url", "type": "uri", "value": "http://evil.com/x"},
                                      {"name": "path", "type": "filepath", "value": "C:\\a\\b.exe", "offset": 3,
                                       "size": 4, "label": "here"}, *SHARED])
    enriched_b = binary_event(sha256=B, action="enriched", author="p", features=SHARED)
    status = {"model_version": 6, "kafka_key": "tmp", "timestamp": "2024-01-01T00:00:00Z",
              "author": {"name": "p", "version": "1", "category": "plugin"},
              "entity": {"input": binary_event(sha256=A), "status": "completed", "runtime": 1.5}}
    for model, events in (("binary", [a, b, d, enriched, enriched_b]), ("status", [status])):
        resp = httpx.post(f"{url}/api/v2/event", params={"model": model, "refresh": "true"}, json=events, timeout=30)
        assert resp.status_code == 200 and resp.json()["total_failures"] == 0, resp.text
    resp = httpx.post(f"{url}/api/v0/binaries/{A}/tags/bad", json={"security": "OFFICIAL"}, timeout=30)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def report(compat_python: str, server: str, tmp_path: Path) -> dict[str, Any]:
    seed(server)
    (tmp_path / ".azul.ini").write_text(f"[default]\nazul_url = {server}\nauth_type = none\n")
    out = tmp_path / "report.json"
    proc = subprocess.run([compat_python, str(DRIVER), A, D, tlsh.hash(BLOB), fuzzy.hash_bytes(NEAR), str(out)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_client_reads_binaries(report: dict[str, Any]) -> None:
    assert [i["sha256"] for i in report["find"]["items"]] == [A] and report["find"]["items_count"] == 1
    assert [(i["key"], i["exists"]) for i in report["find_hashes"]["items"]] == [(A, True), ("f" * 64, False)]
    assert report["find_all"] == [A, B, D] and report["find_all_total"] == 3
    meta = report["meta"]
    assert meta["documents"]["count"] == 2 and [c["sha256"] for c in meta["children"]] == [D]
    assert {f["name"] for f in meta["features"]} >= {"f1", "url", "path"}
    path = next(f for f in meta["features"] if f["name"] == "path")
    assert path["location"] == [[3, 7]] and path["label"] == ["here"]
    assert [t["tag"] for t in meta["tags"]] == ["bad"]
    assert [p["sha256"] for p in report["meta_some"]["parents"]] == [A]
    assert report["check"] is True and report["check_missing"] is False
    assert report["model"]["keys"]["features_map.f1"] == "keyword"
    assert report["autocomplete_empty"] == {"type": "Initial"}
    assert report["autocomplete_key"]["type"] == "FieldValue"
    assert report["new"]["count"] == 2
    assert report["tlsh"]["matches"] == [{"sha256": B, "score": tlsh.diff(tlsh.hash(BLOB), tlsh.hash(NEAR))}]
    assert [m["sha256"] for m in report["ssdeep"]["matches"]] == [A]
    assert report["features"]["status"] == "complete"
    assert [m["sha256"] for m in report["features"]["matches"]] == [B]
    assert {(link["child"], link["parent"]) for link in report["nearby"]["links"]} >= {(D, A), (A, None)}
    assert [t["tag"] for t in report["tags"]["items"]] == ["bad"]
    assert [s["author"]["name"] for s in report["statuses"]["items"]] == ["p"]
    assert report["events"]["total_docs"] == 2
    assert report["last_meta"]["security"]


#: our response models whose bedrock name differs
RENAMED = {"NodeAuthor": "azm.Author"}


def test_models_declare_exactly_bedrocks_fields(compat_python: str) -> None:
    from pydantic import BaseModel

    from azul_metastore.search import models

    ours = {name: sorted(obj.model_fields) for name, obj in vars(models).items()
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == models.__name__}
    wanted = {name: RENAMED.get(name, name) for name in ours}
    script = ("import json, sys\nfrom azul_bedrock import models_network as azm\n"
              "from azul_bedrock.models_restapi import binaries, sources\nout = {}\n"
              "for ours, theirs in json.loads(sys.argv[1]).items():\n"
              "    if theirs.startswith('azm.'):\n"
              "        obj = getattr(azm, theirs[4:])\n"
              "    else:\n"
              "        obj = next(getattr(m, theirs) for m in (binaries, sources) if hasattr(m, theirs))\n"
              "    out[ours] = sorted(obj.model_fields)\n"
              "print(json.dumps(out))\n")
    proc = subprocess.run([compat_python, "-c", script, json.dumps(wanted)], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert ours == json.loads(proc.stdout)
