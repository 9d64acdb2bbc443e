"""Status, download and plugin documents (§4.7, §4.8), partition keys and rejections (§3.7)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from azul_metastore.index.documents import EncodeError
from azul_metastore.index.encoder import Encoder
from azul_metastore.index.statuses import DOWNLOAD_STATUS
from azul_metastore.index.timestamps import partition_key, to_utc_text
from azul_metastore.settings import Settings
from tests.support.gen import EventGenerator, as_logged


def copy(event: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(event))


@pytest.mark.parametrize(
    ("unit", "timestamp", "expected"),
    [
        ("year", "2024-03-05T10:00:00Z", "2024"),
        ("month", "2024-03-05T10:00:00Z", "2024-03"),
        ("week", "2024-01-01T00:00:00Z", "2024-01-w01"),
        ("week", "2024-01-07T23:59:59Z", "2024-01-w01"),
        ("week", "2024-01-08T00:00:00Z", "2024-01-w02"),
        ("week", "2019-12-31T12:00:00Z", "2019-12-w53"),
        ("week", "2024-03-05T10:00:00Z", "2024-03-w10"),  # day 65
        ("day", "2024-03-05T10:00:00Z", "2024-03-05"),
        ("all", "2024-03-05T10:00:00Z", "all"),
        ("day", "2024-03-05T23:30:00-02:00", "2024-03-06"),  # buckets are UTC
    ],
)
def test_partition_key(unit: str, timestamp: str, expected: str) -> None:
    assert partition_key(timestamp, unit) == expected


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2021-01-01T12:00:00Z", "2021-01-01T12:00:00Z"),
        ("2021-01-01T12:00:00+00:00", "2021-01-01T12:00:00Z"),
        ("2021-01-01T12:00:00.000000Z", "2021-01-01T12:00:00Z"),
        ("2021-10-08T13:43:20.668807284+11:00", "2021-10-08T02:43:20.668807Z"),
    ],
)
def test_timestamps_are_utc_text(given: str, stored: str) -> None:
    assert to_utc_text(given) == stored


def test_status_document(encoder: Encoder, settings: Settings) -> None:
    gen = EventGenerator(seed=4)
    event = as_logged("status", gen.status())
    doc = encoder.encode_status(event)
    assert doc.doc_type == "status"
    assert doc.id == event["kafka_key"]
    assert doc.routing is None
    assert doc.partition == partition_key(event["timestamp"], settings.status_partition_unit)
    body = doc.body
    author = event["author"]
    assert body["encoded"] == {"author": f"{author['name']}.plugin.{author['version']}"}
    assert body["entity"]["input"] == {"entity": {"sha256": event["entity"]["input"]["entity"]["sha256"]}}
    assert body["entity"]["status"] == event["entity"]["status"]
    assert body["entity"]["runtime"] == event["entity"]["runtime"]
    assert "results" not in body["entity"]
    assert set(body) == {"security", "encoded_security", "timestamp", "model_version", "author", "entity", "encoded"}
    assert body["author"]["security"] == "OFFICIAL"
    assert body["security"] in ("OFFICIAL", "OFFICIAL TLP:AMBER", "SECRET")


def test_status_partition_unit_comes_from_settings() -> None:
    event = EventGenerator(seed=4).status()
    for unit, expected in (("day", "2024-01-01"), ("month", "2024-01"), ("all", "all")):
        encoder = Encoder(Settings(sources={}, status_partition_unit=unit))
        assert encoder.encode_status(event).partition == expected


@pytest.mark.parametrize("action", list(DOWNLOAD_STATUS))
def test_download_becomes_status(encoder: Encoder, action: str) -> None:
    event = copy(EventGenerator(seed=6).download())
    event["action"] = action
    event["entity"]["hash"] = event["entity"]["hash"].upper()
    doc = encoder.encode_download(as_logged("download", event))
    status, message = DOWNLOAD_STATUS[action]
    assert doc.doc_type == "status"
    assert doc.body["entity"] == {
        "status": status,
        "error": "",
        "message": message,
        "runtime": 0,
        "input": {"entity": {"sha256": event["entity"]["hash"].lower()}},
    }
    assert doc.body["encoded"] == {"author": "vtdownloader.plugin.1.0"}


def test_download_status_mapping() -> None:
    assert {a: s for a, (s, _) in DOWNLOAD_STATUS.items()} == {
        "requested": "download-requested",
        "success": "completed",
        "failed": "error-exception",
        "failed-not-found": "opt-out",
        "skipped-already-present": "opt-out",
    }


def test_plugin_document(encoder: Encoder) -> None:
    gen = EventGenerator(seed=8)
    for _ in range(50):
        event = as_logged("plugin", gen.plugin())
        doc = encoder.encode_plugin(event)
        assert doc.doc_type == "plugin" and doc.id == event["kafka_key"]
        body = doc.body
        assert body["entity"]["config"] == event["entity"]["config"]
        expected = event["entity"]["config"]["is_processing_download_events"] == "true"
        assert body["encoded"] == {"is_processing_download_events": expected}
        assert body["entity"]["security"] == "OFFICIAL"
        assert "flags" not in body and body["timestamp"].endswith("Z")


@pytest.mark.parametrize("value", ["yes", "{", "True", ""])
def test_plugin_config_must_be_json(encoder: Encoder, value: str) -> None:
    event = copy(EventGenerator(seed=8).plugin())
    event["entity"]["config"]["retries"] = value
    with pytest.raises(EncodeError, match="retries") as info:
        encoder.encode_plugin(event)
    assert info.value.reason == "bad_config"


# --- rejections ---------------------------------------------------------------------------------


def binary(action: str = "sourced") -> dict[str, Any]:
    gen = EventGenerator(seed=12)
    gen.binary("sourced")
    return copy(gen.binary(action))


def edit_features(e: dict[str, Any]) -> None:
    e["entity"]["features"] = [{"name": "f", "type": "string", "value": str(i)} for i in range(10_001)]


def edit_streams(e: dict[str, Any]) -> None:
    e["entity"]["datastreams"] = [{"label": "text", "sha256": f"{i:064x}"} for i in range(101)]


def edit_source(e: dict[str, Any]) -> None:
    e["source"]["name"] = "nowhere"


def edit_ssdeep(e: dict[str, Any]) -> None:
    e["entity"]["ssdeep"] = "not-an-ssdeep"


def edit_info_ssdeep(e: dict[str, Any]) -> None:
    e["entity"].pop("ssdeep", None)
    e["entity"]["info"] = {"ssdeep": "x:y:z"}


def edit_tlsh(e: dict[str, Any]) -> None:
    e["entity"]["tlsh"] = "T2" + "0" * 70


def edit_tlsh_length(e: dict[str, Any]) -> None:
    e["entity"]["tlsh"] = "T1" + "0" * 10


def edit_tsr(e: dict[str, Any]) -> None:
    e["track_source_references"] = ""


def edit_authors(e: dict[str, Any]) -> None:
    e.pop("track_authors")


def edit_links(e: dict[str, Any]) -> None:
    e["track_links"] = []


def edit_security(e: dict[str, Any]) -> None:
    e["author"]["security"] = "NOT A LABEL"


def edit_sha256(e: dict[str, Any]) -> None:
    e["entity"].pop("sha256")


def edit_shape(e: dict[str, Any]) -> None:
    e.pop("source")


@pytest.mark.parametrize(
    ("action", "edit", "reason", "words"),
    [
        ("sourced", edit_features, "too_many_features", "10001 features"),
        ("augmented", edit_streams, "too_many_datastreams", "101 datastreams"),
        ("sourced", edit_source, "unknown_source", "'nowhere' is not configured"),
        ("sourced", edit_ssdeep, "bad_ssdeep", "ssdeep"),
        ("enriched", edit_info_ssdeep, "bad_ssdeep", "block size"),
        ("sourced", edit_tlsh, "bad_tlsh", "unsupported version"),
        ("sourced", edit_tlsh_length, "bad_tlsh", "70 hex"),
        ("sourced", edit_tsr, "missing_tracking", "track_source_references"),
        ("enriched", edit_authors, "missing_tracking", "track_authors"),
        ("extracted", edit_links, "missing_tracking", "track_links"),
        ("sourced", edit_security, "bad_security", "author.security"),
        ("sourced", edit_sha256, "missing_sha256", "entity.sha256"),
        ("sourced", edit_shape, "bad_shape", "not a valid binary event"),
    ],
)
def test_rejections_say_why(encoder: Encoder, action: str, edit: Any, reason: str, words: str) -> None:
    event = binary(action)
    edit(event)
    with pytest.raises(EncodeError) as info:
        encoder.encode_binary(event)
    assert info.value.reason == reason
    assert words in str(info.value)
    assert info.value.status_code == 422


def test_releasabilities_that_do_not_intersect_are_rejected(test_vocab_encoder: Encoder) -> None:
    event = binary("sourced")
    event["source"]["security"] = "MEDIUM REL:BEE"
    event["author"]["security"] = "MEDIUM REL:CAR"
    event["source"]["path"][0]["author"]["security"] = "MEDIUM REL:CAR"
    with pytest.raises(EncodeError) as info:
        test_vocab_encoder.encode_binary(event)
    assert info.value.reason == "bad_security"
