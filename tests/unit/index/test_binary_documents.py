"""Binary events → parent and metadata documents (inventory §3.7, §4.3)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
import pytest

from azul_metastore.events import legacy
from azul_metastore.events.tracking import assign_tracking, references_digest
from azul_metastore.index.documents import BinaryDocuments
from azul_metastore.index.encoder import Encoder
from azul_metastore.models.events import BinaryEvent
from tests.support.events import fixture_event
from tests.support.gen import EventGenerator, as_logged
from tests.support.security import SECURITIES as TEST_SECURITIES

ACTIONS = ("sourced", "extracted", "enriched", "augmented", "mapped")
NOT_STORED = ("kafka_key", "flags", "dequeued", "retries", "model_version", "entity", "track_authors", "track_links")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def strip(text: str) -> str:
    return re.sub(r"[^0-9a-zA-Z.]", "", text)


def logged_fixture(name: str) -> dict[str, Any]:
    """A fixture event as intake would store it: upgraded, validated, tracked."""
    event = BinaryEvent.model_validate(legacy.upgrade("binary", fixture_event(name)))
    assign_tracking(event)
    return event.model_dump(mode="json", exclude_none=True)


@pytest.fixture(scope="module")
def generated() -> dict[str, list[dict[str, Any]]]:
    gen = EventGenerator(seed=7)
    by_action: dict[str, list[dict[str, Any]]] = {a: [] for a in ACTIONS}
    for _ in range(400):
        event = gen.binary()
        by_action[event["action"]].append(event)
    for action in ACTIONS:
        while len(by_action[action]) < 5:
            by_action[action].append(gen.binary(action))
    return by_action


def check_common(docs: BinaryDocuments, event: dict[str, Any]) -> dict[str, Any]:
    """What every metadata document has, whatever the action."""
    sha256 = event["entity"]["sha256"].lower()
    parent = docs.parent
    assert parent.id == sha256 and parent.routing == sha256 and parent.partition == sha256[0]
    assert parent.body == {
        "binary_info": {"name": "binary"},
        "security": "s-any",
        "encoded_security": {"exclusive": ["s-any"], "inclusive": ["s-any"], "markings": [], "num_exclusive": 1},
    }
    body = docs.metadata.body
    author = event["author"]
    saa = f"{sha256}.{author.get('category', '')}.{author['name']}.{event['action']}"
    assert body["sha256_author_action"] == saa
    assert body["binary_info"] == {"name": "metadata", "parent": sha256}
    assert docs.metadata.routing == sha256 and docs.metadata.partition == sha256[0]
    assert body["action"] == event["action"]
    assert body["track_author"] == event["track_authors"][-1]
    assert body["timestamp"].endswith("Z")
    assert docs.cache_key == f"{docs.metadata.id}.{author.get('version', '')}"
    assert docs.bypass_cache == (event["action"] == "mapped")
    assert docs.metadata.id.startswith(f"{saa}.{strip(body['security'])}")
    for key in NOT_STORED:
        assert key not in body
    features = event["entity"].get("features", [])
    if features:
        assert body["num_feature_values"] == len(features)
        assert body["num_feature_names"] == len({f["name"] for f in features})
        joined = ".".join(sorted(f"{f['name']}.{f['value']}" for f in features))
        assert body["uniq_features"] == f"{saa}.{md5(joined)}"
        assert sum(len(v) for v in body["features_map"].values()) == len(features)
    if event["entity"].get("ssdeep"):
        assert body["encoded_ssdeep"]["blocksize"] == int(event["entity"]["ssdeep"].split(":")[0])
    if event["entity"].get("tlsh"):
        assert len(body["tlsh_vector"]) == 36
    return body


def check_submission(body: dict[str, Any], event: dict[str, Any], depth: int) -> None:
    source = event["source"]
    assert body["depth"] == depth
    assert body["source"]["name"] == source["name"]
    assert "path" not in body["source"]
    assert body["track_source_references"] == event["track_source_references"]
    refs = source.get("references") or {}
    if refs:
        assert body["source"]["references"] == refs
        assert body["source"]["encoded_references"] == sorted(
            ({"key": k, "value": v, "key_value": f"{k}.{v}"} for k, v in refs.items()), key=lambda r: r["key_value"]
        )
    if source.get("settings"):
        assert [s["key"] for s in body["source"]["encoded_settings"]] == sorted(source["settings"])


@pytest.mark.parametrize("action", ACTIONS)
def test_generated_events_by_action(encoder: Encoder, generated: dict[str, list[dict[str, Any]]], action: str) -> None:
    for event in generated[action]:
        docs = encoder.encode_binary(event)
        body = check_common(docs, event)
        path = event["source"]["path"]
        security = body["security"]
        saa = body["sha256_author_action"]
        result_id = f"{saa}.{strip(security)}"
        src_ts = body.get("source", {}).get("timestamp", "")
        submission_id = f"{result_id}.{event['track_source_references']}.{strip(src_ts)}.{strip(event['source'].get('security') or 'OFFICIAL')}"  # noqa: E501
        if action == "enriched":
            assert docs.metadata.id == result_id
            assert "source" not in body and "depth" not in body and "datastreams" not in body
            assert "uniq_data" not in body
        elif action == "augmented":
            assert docs.metadata.id == submission_id
            check_submission(body, event, max(0, len(path) - 2))
            assert body["datastreams"] and all(ds["label"] != "content" for ds in body["datastreams"])
            assert "parent" not in body and "ancestors" not in body
        elif action == "sourced":
            assert docs.metadata.id == submission_id
            check_submission(body, event, len(path) - 1)
            assert [ds["label"] for ds in body["datastreams"]] == ["content"]
            assert "parent" not in body and "ancestors" not in body
        else:
            check_submission(body, event, len(path) - 1)
            if len(path) >= 2:
                parent = path[-2]
                assert docs.metadata.id == f"{submission_id}.{parent['sha256']}"
                assert body["track_link"] == event["track_links"][-1]
                assert body["parent_track_author"] == event["track_authors"][-2]
                assert body["parent_relationship"] == path[-1].get("relationship", {})
                assert body["parent"]["sha256"] == parent["sha256"]
                # the path above the binary, root first (a walk's guess of where it goes: lineage.py)
                assert body["ancestors"] == list(dict.fromkeys(n["sha256"].lower() for n in path[:-1]))
                p_author = parent["author"]
                assert body["parent"]["encoded"] == {
                    "sha256_author_action": f"{parent['sha256']}.{p_author.get('category', '')}."
                    f"{p_author['name']}.{parent['action']}"
                }
            else:
                assert docs.metadata.id == submission_id
                assert "parent" not in body


def test_generated_events_validate_like_intake(encoder: Encoder, generated: dict[str, list[dict[str, Any]]]) -> None:
    """The generator's events are what intake stores: encoding the intake form gives the same docs."""
    for action in ACTIONS:
        for event in generated[action][:3]:
            assert encoder.encode_binary(as_logged("binary", event)) == encoder.encode_binary(event)


def test_encoder_does_not_modify_input(encoder: Encoder, generated: dict[str, list[dict[str, Any]]]) -> None:
    for action in ACTIONS:
        event = generated[action][0]
        before = orjson.dumps(event)
        encoder.encode_binary(event)
        assert orjson.dumps(event) == before


def test_cuckoo_fixture(encoder: Encoder) -> None:
    event = logged_fixture("2bd32_cuckoo.json")
    assert event["action"] == "augmented"  # legacy enriched-with-streams is upgraded
    docs = encoder.encode_binary(event)
    body = check_common(docs, event)
    sha = "2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35"
    tsr = "virustotal." + md5("")
    assert docs.metadata.id == f"{sha}.plugin.Cuckoo.augmented.OFFICIAL.{tsr}.20211008T044409.461000Z.OFFICIAL"
    assert body["security"] == "OFFICIAL"
    assert body["encoded_security"] == {
        "exclusive": ["s-official"], "inclusive": ["s-any"], "markings": ["s-any"], "num_exclusive": 1
    }  # fmt: skip
    assert body["author"] == {"security": "OFFICIAL", "category": "plugin", "name": "Cuckoo", "version": "2021.08.30"}
    assert body["depth"] == 0
    assert body["source"] == {"security": "OFFICIAL", "name": "virustotal", "timestamp": "2021-10-08T04:44:09.461000Z"}
    assert body["track_source_references_grouped"] == tsr
    assert [d["label"] for d in body["datastreams"]] == ["report", "screenshot"]
    streams = sorted(d["sha256"] for d in event["entity"]["datastreams"])
    assert body["uniq_data"] == f"{sha}.plugin.Cuckoo.augmented.{md5('.'.join(streams))}"
    assert body["uniq_info"].startswith(f"{sha}.plugin.Cuckoo.augmented.")
    assert body["info"] == event["entity"]["info"]
    assert body["sha512"].startswith("d0108dd9") and body["size"] == 32256
    assert "file_created" in body["features_map"]


def test_vtfilemapper_fixture(encoder: Encoder) -> None:
    event = logged_fixture("2bd32_vtfilemapper.json")
    docs = encoder.encode_binary(event)
    body = check_common(docs, event)
    sha = "2bd322c8784fe18426cae39c7a23e8e8330f8510ad4ac6102bdd9bb28c2fba35"
    parent = f"{sha}-1633582504"
    tsr = "virustotal." + md5("")
    assert docs.metadata.id == (
        f"{sha}.plugin.vtfilemapper.mapped.OFFICIAL.{tsr}.20211007T045504Z.OFFICIAL.{parent}"
    )
    assert body["depth"] == 1
    assert body["timestamp"] == "2021-10-08T02:43:20.668807Z"  # +11:00 and nanoseconds normalised
    assert body["parent"]["sha256"] == parent
    assert body["parent"]["timestamp"] == "2021-10-08T02:42:56Z"
    assert body["parent"]["author"] == {"security": "OFFICIAL", "category": "loader", "name": "vtfileloader",
                                        "version": "1.1"}  # fmt: skip
    assert body["parent"]["encoded"] == {"sha256_author_action": f"{parent}.loader.vtfileloader.mapped"}
    assert body["parent_track_author"] == "loader.vtfileloader.1.1"
    assert body["track_link"] == f"{parent}.{sha}.2021_10_08T13_43_20+11_00.plugin.vtfilemapper.0.27"
    assert body["encoded_ssdeep"]["blocksize"] == 384
    assert body["ssdeep"].startswith("384:")  # copied from info.ssdeep
    assert body["num_feature_values"] == len(event["entity"]["features"])
    assert body["features_map"]["vt_first_seen"] == ["2012-06-06T11:24:43Z"]
    assert "datastreams" not in body


def test_track_source_references_grouped_uses_priority_references(encoder: Encoder) -> None:
    gen = EventGenerator(seed=3)
    for _ in range(200):
        event = gen.binary("sourced")
        if event["source"]["name"] == "samples":
            break
    refs = event["source"]["references"]
    assert set(refs) >= {"user"}
    body = encoder.encode_binary(event).metadata.body
    # samples: "user" is a priority reference, "description" is not
    assert body["track_source_references_grouped"] == f"samples.{references_digest(refs, ['user'])}"


def test_security_combines_source_author_and_path(test_vocab_encoder: Encoder) -> None:
    gen = EventGenerator(seed=5, securities=tuple(TEST_SECURITIES))
    event = gen.binary("sourced")
    event = orjson.loads(orjson.dumps(event))
    event["source"]["security"] = "LOW TLP:CLEAR"
    event["author"]["security"] = "medium rel:apple,bee"
    event["source"]["path"][0]["author"]["security"] = "MEDIUM MOD1 REL:APPLE"
    body = test_vocab_encoder.encode_binary(event).metadata.body
    assert body["security"] == "MEDIUM MOD1 REL:APPLE"
    assert body["author"]["security"] == "MEDIUM REL:APPLE,BEE"
    assert body["source"]["security"] == "LOW TLP:CLEAR"
    assert body["encoded_security"]["exclusive"] == ["s-medium", "s-mod1"]
    assert body["encoded_security"]["inclusive"] == ["s-rel-apple"]


def test_missing_security_is_the_default(encoder: Encoder) -> None:
    event = EventGenerator(seed=9).binary("sourced")
    event = orjson.loads(orjson.dumps(event))
    event["source"].pop("security")
    event["author"].pop("security")
    event["source"]["path"][0]["author"].pop("security")
    body = encoder.encode_binary(event).metadata.body
    assert body["security"] == "OFFICIAL"
    assert body["source"]["security"] == "OFFICIAL"
    assert body["author"]["security"] == "OFFICIAL"


def test_hashes_are_lowercased(encoder: Encoder) -> None:
    gen = EventGenerator(seed=11)
    gen.binary("sourced")
    event = orjson.loads(orjson.dumps(gen.binary("extracted")))
    for key in ("sha256", "sha1", "md5", "sha512"):
        event["entity"][key] = event["entity"][key].upper()
    event["source"]["path"][-2]["sha256"] = event["source"]["path"][-2]["sha256"].upper()
    docs = encoder.encode_binary(event)
    body = docs.metadata.body
    assert docs.parent.id == body["sha256"] == event["entity"]["sha256"].lower()
    assert body["md5"] == event["entity"]["md5"].lower()
    assert body["parent"]["sha256"] == event["source"]["path"][-2]["sha256"].lower()
    assert docs.metadata.id.endswith("." + body["parent"]["sha256"])


def test_entropy_vector_from_info(encoder: Encoder) -> None:
    event = orjson.loads(orjson.dumps(EventGenerator(seed=2).binary("enriched")))
    event["entity"]["info"] = {"entropy": {"blocks": [7.5] * 64}}
    body = encoder.encode_binary(event).metadata.body
    assert body["entropy_vector"] == [-1, -1, -1, -4] * 40  # 7.5 -> 30 one-bits
    event["entity"]["info"] = {"entropy": {"blocks": [7.5] * 10}}
    assert "entropy_vector" not in encoder.encode_binary(event).metadata.body
