"""Feature enrichment and the derived feature fields (inventory §4.4)."""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from azul_metastore.index.features import encode_features, enrich


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        ("42", "integer", {"integer": 42}),
        ("-7", "integer", {"integer": -7}),
        ("1.5", "float", {"float": 1.5}),
        ("anything", "string", {}),
        (base64.b64encode(b"hello\xff").decode(), "binary", {"binary_string": "hello"}),
        ("2021-01-01T00:00:00Z", "datetime", {"datetime": "2021-01-01T00:00:00Z"}),
        ("C:\\Windows\\System32\\cmd.exe", "filepath", {"filepath": "C:/Windows/System32/cmd.exe"}),
        ("/usr/bin\\odd", "filepath", {"filepath": "/usr/bin\\odd"}),
        ("dir\\sub/file", "filepath", {"filepath": "dir/sub/file"}),
        ("plain.txt", "filepath", {"filepath": "plain.txt"}),
        (
            "http://user:pw@blah.com:443/a/b.html;p?q=1&r#frag",
            "uri",
            {
                "scheme": "http",
                "netloc": "user:pw@blah.com:443",
                "filepath": "/a/b.html",
                "params": "p",
                "query": "q=1&r",
                "fragment": "frag",
                "username": "user",
                "password": "pw",
                "hostname": "blah.com",
                "port": 443,
            },
        ),
        (
            "http://201.111.20.5/x",
            "uri",
            {
                "scheme": "http",
                "netloc": "201.111.20.5",
                "filepath": "/x",
                "hostname": "201.111.20.5",
                "ip": "201.111.20.5",
            },
        ),
        ("10.1.2.3:8080", "uri", {"netloc": "10.1.2.3:8080", "hostname": "10.1.2.3", "port": 8080, "ip": "10.1.2.3"}),
        ("example.com/path", "uri", {"netloc": "example.com", "filepath": "/path", "hostname": "example.com"}),
        ("mailto:bob@example.com", "uri", {"scheme": "mailto", "filepath": "bob@example.com"}),
        (
            "http://[::1]:80/",
            "uri",
            {"scheme": "http", "netloc": "[::1]:80", "filepath": "/", "hostname": "::1", "port": 80, "ip": "::1"},
        ),
    ],
)
def test_enrich(value: str, type_: str, expected: dict[str, object]) -> None:
    assert enrich(value, type_) == expected


@pytest.mark.parametrize(
    ("value", "type_"),
    [("host:9006:9006", "uri"), ("12x", "integer"), ("one", "float"), ("!!notbase64", "binary")],
)
def test_enrichment_failure_keeps_the_feature(value: str, type_: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        summary = encode_features([{"name": "f", "type": type_, "value": value}], context="evt")
    (feature,) = summary.features
    assert feature == {"name": "f", "type": type_, "value": value, "encoded": {}}
    assert "without enrichment" in caplog.text
    assert summary.features_map == {"f": [value]}


def test_location_and_optional_fields() -> None:
    raw = [
        {"name": "s", "type": "string", "value": "x", "offset": 10, "size": 5, "label": "lbl"},
        {"name": "s", "type": "string", "value": "y", "size": 3},
        {"name": "s", "type": "string", "value": "z", "offset": 0},
    ]
    summary = encode_features(raw)
    assert summary.features[0] == {
        "name": "s", "type": "string", "value": "x", "label": "lbl", "offset": 10, "size": 5,
        "enriched": {}, "encoded": {"location": {"gte": 10, "lte": 15}},
    }  # fmt: skip
    assert summary.features[1]["encoded"] == {"location": {"gte": 0, "lte": 3}}
    assert summary.features[2]["encoded"] == {"location": {"gte": 0, "lte": 0}}
    assert raw[0] == {"name": "s", "type": "string", "value": "x", "offset": 10, "size": 5, "label": "lbl"}


def test_derived_fields() -> None:
    raw = [
        {"name": "filename", "type": "filepath", "value": "b.exe"},
        {"name": "tag", "type": "string", "value": "zeta"},
        {"name": "filename", "type": "filepath", "value": "a.exe"},
        {"name": "tag", "type": "string", "value": "alpha"},
    ]
    summary = encode_features(raw)
    assert summary.features_map == {"filename": ["b.exe", "a.exe"], "tag": ["zeta", "alpha"]}
    assert summary.filename == ["b.exe", "a.exe"]
    assert summary.num_feature_names == 2
    joined = "filename.a.exe.filename.b.exe.tag.alpha.tag.zeta"
    assert summary.uniq_digest == hashlib.md5(joined.encode()).hexdigest()
