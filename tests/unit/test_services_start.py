"""What a service start does to the previous run's folder, and the JVM options it takes from the
environment (``services/manager.py``): no server is started here."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.manager import OpenSearch, services


def _old_home(home: Path) -> None:
    (home / "data" / "nodes").mkdir(parents=True)
    (home / "data" / "nodes" / "segment").write_bytes(b"index")
    (home / "config").mkdir()
    (home / "config" / "opensearch.yml").write_text("old: true\n")
    (home / "stray.txt").write_text("x")


def test_a_start_wipes_the_previous_run_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICES_KEEP_DATA", raising=False)
    _old_home(tmp_path / "home")
    services()["opensearch"]._clear_home(tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_keep_data_keeps_only_the_data_of_a_server_able_to_keep_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICES_KEEP_DATA", "1")
    _old_home(tmp_path / "home")
    services()["opensearch"]._clear_home(tmp_path / "home")
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["data"]
    assert (tmp_path / "home" / "data" / "nodes" / "segment").read_bytes() == b"index"
    # Kafka formats its storage at each start and the secure node sets up its security index:
    # both start afresh even when asked to keep data.
    for name in ("kafka", "opensearch-secure"):
        _old_home(tmp_path / name)
        services()[name]._clear_home(tmp_path / name)
        assert not (tmp_path / name).exists(), name


def test_extra_opensearch_jvm_options_come_after_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICES_OPENSEARCH_JAVA_OPTS", "-XX:MaxGCPauseMillis=25 -Xmn256m")
    monkeypatch.setattr("services.manager.check_java", lambda: "java")
    node = OpenSearch("opensearch", build=tmp_path)
    cmd = node.command(tmp_path / "home")
    assert cmd.index("-XX:MaxGCPauseMillis=25") > cmd.index("-XX:+UseG1GC")
    assert cmd.index("-Xmn256m") < cmd.index("-cp")
    monkeypatch.delenv("SERVICES_OPENSEARCH_JAVA_OPTS")
    assert not any(arg.startswith("-XX:MaxGCPauseMillis") for arg in node.command(tmp_path / "home"))
