"""Settings that load but would break later are refused at start-up, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from azul_metastore.errors import ConfigError
from azul_metastore.settings import load_settings


@pytest.mark.parametrize("retention", ["3000 years", "1000000 days", "99999999999999999999 years"])
def test_a_retention_age_off_cannot_subtract_is_refused(tmp_path: Path, retention: str) -> None:
    """'3000 years' loaded, then every age-off pass failed: before year 1."""
    with pytest.raises(ConfigError, match=r"METASTORE_SOURCES.*longer than 1000 years"):
        load_settings(data_dir=tmp_path, sources={"s": {"expire_events_after": retention}})
    with pytest.raises(ConfigError, match=r"METASTORE_STATUS_EXPIRE_EVENTS.*longer than 1000 years"):
        load_settings(data_dir=tmp_path, status_expire_events=retention)
    assert load_settings(data_dir=tmp_path, sources={"s": {"expire_events_after": "1000 years"}})


@pytest.mark.parametrize("name", ["age_off_interval_seconds", "lost_task_check_seconds", "lost_task_timeout_seconds"])
def test_intervals_past_what_a_wait_takes_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"METASTORE_{name.upper()}.*less than or equal"):
        load_settings(data_dir=tmp_path, **{name: 100_000_000_000})


def test_bad_json_and_unreadable_env_files_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METASTORE_SOURCES", "{not json")
    with pytest.raises(ConfigError, match=r"sources.*JSON"):
        load_settings(data_dir=tmp_path)
    monkeypatch.delenv("METASTORE_SOURCES")
    monkeypatch.setenv("METASTORE_ENV_FILE", str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match="is not a file"):
        load_settings(data_dir=tmp_path)
    monkeypatch.setenv("METASTORE_ENV_FILE", str(tmp_path))
    with pytest.raises(ConfigError, match="is not a file"):
        load_settings(data_dir=tmp_path)
    latin = tmp_path / "latin.env"
    latin.write_bytes("METASTORE_PARTITION=caf\xe9\n".encode("latin-1"))
    monkeypatch.setenv("METASTORE_ENV_FILE", str(latin))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(data_dir=tmp_path)
