"""Metadata documents back to binary events (§4.11)."""

from __future__ import annotations

import orjson

from azul_metastore.index.decoder import decode_binary
from azul_metastore.index.encoder import Encoder
from azul_metastore.models.events import BinaryEvent
from tests.support.gen import EventGenerator

DERIVED = ("features_map", "uniq_features", "sha256_author_action", "encoded_security", "tlsh_vector", "depth")


def test_round_trip_of_sourced_and_extracted(encoder: Encoder) -> None:
    gen = EventGenerator(seed=21)
    gen.binary("sourced")
    for action in ("sourced", "extracted", "mapped"):
        event = gen.binary(action)
        docs = encoder.encode_binary(event)
        body = docs.metadata.body
        snapshot = orjson.dumps(body)
        decoded = decode_binary(body)
        assert orjson.dumps(body) == snapshot  # the document is not modified
        BinaryEvent.model_validate(decoded)
        for key in DERIVED:
            assert key not in decoded and key not in decoded["entity"]
        assert all("enriched" not in f and "encoded" not in f for f in decoded["entity"].get("features", []))
        assert "encoded_references" not in decoded["source"]
        # the same event in all that the documents keep: encoding it again gives the same document
        again = encoder.encode_binary(decoded)
        assert again.metadata.id == docs.metadata.id
        for key in ("features_map", "uniq_features", "uniq_data", "security", "source", "parent", "track_link"):
            assert again.metadata.body.get(key) == body.get(key), key


def test_link_documents_rebuild_a_two_node_path(encoder: Encoder) -> None:
    gen = EventGenerator(seed=22)
    gen.binary("sourced")
    event = gen.binary("extracted")
    decoded = decode_binary(encoder.encode_binary(event).metadata.body)
    path = decoded["source"]["path"]
    assert [n["sha256"] for n in path] == [n["sha256"] for n in event["source"]["path"][-2:]]
    assert "encoded" not in path[0]
    assert decoded["track_authors"] == event["track_authors"][-2:]
    assert decoded["track_links"] == event["track_links"][-1:]
    assert decoded["model_version"] == 6 and decoded["kafka_key"] == "tmp"


def test_enriched_documents_have_no_source(encoder: Encoder) -> None:
    gen = EventGenerator(seed=23)
    gen.binary("sourced")
    decoded = decode_binary(encoder.encode_binary(gen.binary("enriched")).metadata.body)
    assert "source" not in decoded
    assert decoded["action"] == "enriched"
    assert decoded["entity"]["features"]
