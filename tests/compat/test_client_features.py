"""azul-client against our feature, plugin, source, statistics and content-view routes.

The real client (in the compat virtual environment) validates every answer with azul-bedrock's
strict models; the driver also checks the leniently parsed answers for keys bedrock does not
declare. It runs as two users, so the counts it reads also show that access is applied.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from azul_metastore.app import Services, build_services
from azul_metastore.index.documents import Document
from tests.support.events import binary_event
from tests.support.multiuser import TOKENS, multiuser_settings, plugin_event, post_events, status_event, upload
from tests.support.server import running_server

pytestmark = pytest.mark.compat
DRIVER = Path(__file__).with_name("client_features_driver.py")
LOW, MED = "LOW TLP:CLEAR", "MEDIUM REL:APPLE"
DATA = b"MZ\x00\x00hello world\x01\x02" + "wide".encode("utf-16le") + b"\x01"


def run_client(python: str, url: str, user: str, sha256: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"report-{user}.json"
    proc = subprocess.run([python, str(DRIVER), url, TOKENS[user], sha256, str(out)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def seed(url: str, services: Services) -> str:
    sha = upload(url, "samples", "content", DATA)
    fv = [{"name": "f1", "type": "string", "value": "alpha"}]
    post_events(url, "binary", [
        binary_event(sha256=sha, security=LOW, features=fv),
        binary_event(sha256="b" * 64, security=MED, features=[{"name": "f1", "type": "string", "value": "beta"}]),
        binary_event(sha256=sha, action="enriched", author="p", version="2", security=LOW,
                     features=[{"name": "url", "type": "uri", "value": "http://evil.com/x"}]),
    ])
    post_events(url, "plugin", [plugin_event("p", "1", timestamp="2024-01-01T00:00:00Z"),
                                plugin_event("p", "2", features=[{"name": "f1", "desc": "first", "type": "string"}],
                                             config={"filter_max_content_size": "1000"})])
    binary = binary_event(sha256=sha, security=LOW)
    post_events(url, "status", [status_event("p", "2", binary, "completed", security=LOW)])
    body = {"type": "fv_tag", "feature_name": "f1", "feature_value": "alpha", "tag": "bad", "owner": "alice",
            "timestamp": "2024-03-01T00:00:00Z", "security": "LOW",
            "encoded_security": services.encoder.security.encoded("LOW"), "pivot": "f1.alpha"}
    services.index.write([Document("annotation", "alice.fv_tag.bad.f1.alpha", body)])
    return sha


@pytest.fixture
def reports(compat_python: str, tmp_path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any], str]]:
    services = build_services(multiuser_settings(tmp_path))
    try:
        with running_server(services) as url:
            sha = seed(url, services)
            yield (run_client(compat_python, url, "low", sha, tmp_path),
                   run_client(compat_python, url, "med", sha, tmp_path), sha)
    finally:
        services.close()


def test_client_features_plugins_sources_and_content(reports: tuple[dict[str, Any], dict[str, Any], str]) -> None:
    low, med, sha = reports
    for report in (low, med):
        assert report["extra"] == []
        assert report["values_counts"]["missing"] == {"name": "missing", "values": 0, "entities": None}
        assert report["value_entities"] == {"f1": {"alpha": {"name": "f1", "value": "alpha", "entities": 1}}}
        assert report["part_entities"]["evil.com"]["hostname"]["entities"] == 1
        assert report["all_tags"] == {"tags": [{"tag": "bad", "num_feature_values": 1}], "num_tags": 1}
        assert [t["feature_value"] for t in report["tag_values"]["items"]] == ["alpha"]
        assert [f["name"] for f in report["features"]["items"]] == ["f1"]
        assert [(p["versions"], p["newest_version"]["name"]) for p in report["plugins"]] == [(["2", "1"], "p")]
        assert report["plugin_statuses"][0]["success_count"] == 1
        assert report["plugin"]["num_entities"] == 1 and report["plugin"]["status"][0]["status"] == "completed"
        assert set(report["sources"]) == {"samples", "virustotal", "testing"}
        assert report["source_exists"] is True and report["source_missing"] is False
        assert report["source"]["name"] == "samples"
        assert report["hexview"]["content_length"] == len(DATA) and report["hexview"]["has_more"]
        assert {s["string"]: s["encoding"] for s in report["strings"]["strings"]} == {"hello world": "ASCII",
                                                                                     "wide": "UTF-16"}
        assert report["search_hex"]["strings"] == [{"string": "he", "offset": 4, "length": 2, "encoding": "hex"}]
        assert report["meta"]["security"]
    # what each user may see
    assert (low["values_counts"]["f1"]["values"], med["values_counts"]["f1"]["values"]) == (1, 2)
    assert (low["entities_counts"]["f1"]["entities"], med["entities_counts"]["f1"]["entities"]) == (1, 2)
    assert (low["statistics"], med["statistics"]) == ({"binary_count": 1}, {"binary_count": 2})
    assert (low["source"]["num_entities"], med["source"]["num_entities"]) == (1, 2)
    assert len(low["references"]["items"]) == 1 and med["references"]["items"][0]["num_entities"] == 2
    # a full page carries an after, so a last empty page may follow (as in Azul)
    assert [v["value"] for p in low["value_pages"] for v in p["values"]] == ["alpha"]
    assert [v["value"] for p in med["value_pages"] for v in p["values"]] == ["alpha", "beta"]
    # x=MEDIUM hides the MEDIUM binary from med
    assert med["values_counts_x"]["f1"]["values"] == 1 and med["statistics_x"] == {"binary_count": 1}
    assert sha


#: our model name -> bedrock's (models_restapi) where the names differ
RENAMED = {"SourceInfo": "Source", "BinaryHexHeader": "BinaryHexView.BinaryHexHeader",
           "BinaryHexValue": "BinaryHexView.BinaryHexValue"}
REQUEST_ONLY = {"Strict", "Coerced", "FeatureNames", "FeatureValueItems", "FeaturePartItems", "PageAfter", "PivotBody"}


def test_models_declare_exactly_bedrocks_fields(compat_python: str) -> None:
    from pydantic import BaseModel

    from azul_metastore.search import models_features

    ours = {name: sorted(obj.model_fields) for name, obj in vars(models_features).items()
            if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == models_features.__name__
            and name not in REQUEST_ONLY}
    wanted = {name: RENAMED.get(name, name) for name in ours}
    script = ("import json, sys\nfrom azul_bedrock.models_restapi import basic, binaries, binaries_data, features,"
              " plugins, sources, statistics\nout = {}\n"
              "for ours, theirs in json.loads(sys.argv[1]).items():\n"
              "    head, *rest = theirs.split('.')\n"
              "    obj = next(getattr(m, head) for m in (features, plugins, sources, statistics, binaries_data, basic,"
              " binaries) if hasattr(m, head))\n"
              "    for part in rest:\n"
              "        obj = getattr(obj, part)\n"
              "    out[ours] = sorted(obj.model_fields)\n"
              "print(json.dumps(out))\n")
    proc = subprocess.run([compat_python, "-c", script, json.dumps(wanted)], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert ours == json.loads(proc.stdout)
