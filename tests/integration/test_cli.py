"""The CLI's answers to unusable settings and odd input: a message and an exit code, never a
traceback (README: 2 bad input or configuration, 3 not found, 5 another run holds the work)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from azul_metastore.cli import main
from tests.conftest import TEST_SOURCES


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("METASTORE_DATA_DIR", str(data))
    monkeypatch.setenv("METASTORE_SOURCES", json.dumps(TEST_SOURCES))
    monkeypatch.setenv("METASTORE_PROMETHEUS_PORT", "0")
    return data


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(main, list(args), input=stdin)


def test_a_data_directory_that_is_a_file_is_named(env: Path) -> None:
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text("not a directory")
    result = run("events", "topics")
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and str(env) in result.output and "Traceback" not in result.output


def test_publish_refuses_input_that_is_not_utf8(env: Path) -> None:
    result = run("events", "publish", "-", stdin=b'{"a": "caf\xe9"}')
    assert result.exit_code == 2 and "not UTF-8" in result.output


def test_tail_names_unknown_topics_bounds_offsets_and_shows_records_that_are_not_json(env: Path) -> None:
    from azul_metastore.app import build_services
    from azul_metastore.events.port import Message
    from azul_metastore.settings import load_settings

    services = build_services(load_settings())
    services.event_log.append("binary", [Message("k", b"{not json")])
    services.close()
    result = run("events", "tail", "no-such-topic")
    assert result.exit_code == 3 and "no topic 'no-such-topic'" in result.output and "binary" in result.output
    assert run("events", "tail", "binary", "--from", "99999999999999999999").exit_code == 2
    assert run("events", "tail", "binary", "-n", "-5").exit_code == 2
    shown = run("events", "tail", "binary")
    assert shown.exit_code == 0 and json.loads(shown.output)["raw"] == "{not json"


def test_serve_refuses_a_port_out_of_range_or_taken_before_starting_anything(env: Path) -> None:
    assert run("serve", "--port", "83586", "--no-workers").exit_code == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert not env.exists()  # refused before the services (and the ingestors) were built
    result = run("serve", "--host", "999.1.1.1", "--port", "0", "--no-workers")
    assert result.exit_code == 2 and "cannot listen on 999.1.1.1" in result.output


def test_a_cli_purge_is_audited_and_an_unusable_audit_path_refused(env: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from azul_metastore.app import build_services
    from azul_metastore.settings import load_settings
    from tests.support.lineage import ingest, sha, submission

    services = build_services(load_settings())
    submission(services, "samples", "2024-01-01T00:00:00Z", "x")
    ingest(services)
    services.close()
    monkeypatch.setenv("METASTORE_AUDIT_LOG_FILE_PATH", str(tmp_path / "missing" / "audit.log"))
    result = run("purge", "binary", sha("x"), "--purge")
    assert result.exit_code == 2 and "METASTORE_AUDIT_LOG_FILE_PATH" in result.output
    audit = tmp_path / "audit.log"
    monkeypatch.setenv("METASTORE_AUDIT_LOG_FILE_PATH", str(audit))
    result = run("purge", "binary", sha("x"), "--purge")
    assert result.exit_code == 0, result.output
    assert "purge" in audit.read_text() and sha("x") in audit.read_text()


def test_a_second_run_of_work_held_by_another_exits_5(env: Path) -> None:
    from azul_metastore.lifecycle.journal import Journal
    from azul_metastore.settings import load_settings

    env.mkdir(parents=True)
    held = Journal.open(load_settings().purge_path, "pass", prefix="age-off")
    try:
        result = run("age-off")
        assert result.exit_code == 5 and "another age-off" in result.output, result.output
    finally:
        held.discard()


def test_the_metrics_port_taken_by_another_process_does_not_stop_the_work(caplog: pytest.LogCaptureFixture) -> None:
    """Two ingestors of one host on the default port: the second crashed before its first batch."""
    from azul_metastore.ingest.metrics import serve_metrics

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        serve_metrics(port)
    assert f"metrics not served: port {port}" in caplog.text
