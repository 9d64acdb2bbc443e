"""azul-client against our submission, download, tag and expedite routes (open mode).

The real client uploads plain bytes (it CaRTs them itself), an already CaRTed file and a password
ZIP to extract, re-submits without data, inserts a child, checks and downloads content (CaRT and
bulk), fetches an alternate stream, tags and untags, and expedites; its azul-bedrock models parse
every answer.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from azul_metastore.app import build_services
from azul_metastore.events import topics
from tests.conftest import TEST_SOURCES
from tests.support.events import CONTENT
from tests.support.security import security_settings
from tests.support.server import running_server

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("client_submit_driver.py")
FAKE = hashlib.sha256((CONTENT / "fake.txt").read_bytes()).hexdigest()


def test_client_uploads_downloads_tags_and_expedites(compat_python: str, tmp_path: Path) -> None:
    svc = build_services(security_settings(data_dir=tmp_path / "data", sources=TEST_SOURCES, auth_open=True))
    out = tmp_path / "report.json"
    try:
        with running_server(svc) as url:
            proc = subprocess.run([compat_python, str(DRIVER), url, str(CONTENT), str(out)], capture_output=True,
                                  text=True, timeout=300, cwd=tmp_path,
                                  env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            expedited = [json.loads(r.value) for r in svc.event_log.read(topics.BINARY_EXPEDITE, 0, 1000)]
    finally:
        svc.close()
    report = json.loads(out.read_text())
    plain = report["plain"]
    assert plain["sha256"] == hashlib.sha256(b"plain bytes from azul-client\n" * 4).hexdigest()
    assert plain["filename"] == "plain.txt" and plain["track_source_references"].startswith("samples.")
    assert report["neutered"]["sha256"] == FAKE and report["download_sha256"] == FAKE
    assert report["extracted"]["filename"] in ("fake.txt", "fake_meta.txt")
    assert report["dataless"] == plain["sha256"]
    assert report["child"] == hashlib.sha256(b"a child from azul-client\n" * 4).hexdigest()
    assert report["check_data"] == [True, False]
    assert report["bulk_magic"] == "PK"
    assert report["augmented"] == "some notes\n"
    assert report["untag"] == {"total": 1, "updated": 1, "deleted": 0}
    assert report["fv_tag"] == [None, None]
    assert any(e["entity"]["sha256"] == plain["sha256"] and e["flags"]["bypass_cache"] for e in expedited)
