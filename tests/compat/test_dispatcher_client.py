"""azul-bedrock's own dispatcher client against our event API: plugins' filters select what Azul's
dispatcher selects, and the simulation answers its ``EventSimulate`` model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from azul_metastore.app import build_services
from tests.conftest import TEST_SOURCES
from tests.support.security import security_settings
from tests.support.server import running_server

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("dispatcher_driver.py")


def test_bedrocks_dispatcher_client_fetches_with_plugin_filters_and_simulates(compat_python: str,
                                                                             tmp_path: Path) -> None:
    svc = build_services(security_settings(data_dir=tmp_path / "data", sources=TEST_SOURCES, auth_open=True))
    out = tmp_path / "report.json"
    try:
        with running_server(svc) as url:
            proc = subprocess.run([compat_python, str(DRIVER), url, str(out)], capture_output=True, text=True,
                                  timeout=300, cwd=tmp_path, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        svc.close()
    report = json.loads(out.read_text())
    assert report["posted"] == 3
    assert report["got"] == {"windows": ["a", "c"], "scripts": ["b"], "pcaps": ["c"], "small": ["b", "c"],
                             "anything-exe": ["a", "c"]}
    assert report["small_info"] == {"fetched": 3, "filtered": 1}
    assert report["simulated"] == [
        ["anything-exe", False, ""], ["pcaps", True, "FilterConsumerRules-reject_stream"],
        ["scripts", True, "FilterConsumerRules-reject_file_format"],
        ["small", True, "FilterConsumerRules-reject_content_too_large"], ["windows", False, ""]]
