"""Strings, hex view, hex search, common strings and entropy blocks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azul_metastore.content.entropy import block_size_for, entropy, entropy_blocks
from azul_metastore.content.hexview import hex_view
from azul_metastore.content.strings import common_strings, find_strings, search_hex
from azul_metastore.errors import BadRequest

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "content"


def test_ascii_and_utf16_strings_sorted_by_offset() -> None:
    data = b"\0\0hello world\0\x01" + "wide text".encode("utf-16le") + b"\xff\xfeab\0tail"
    out = find_strings(data, offset=100)
    assert [(s["string"], s["offset"], s["encoding"]) for s in out["strings"]] == [
        ("hello world", 102, "ascii"), ("wide text", 115, "utf-16le"), ("tail", 138, "ascii")]
    assert out["has_more"] is False and out["next_offset"] == 100 + len(data) and out["time_out"] is False


def test_long_strings_are_truncated_and_flagged_not_dropped() -> None:
    out = find_strings(b"A" * 500 + b"\0short!", max_length=200)
    first = out["strings"][0]
    assert len(first["string"]) == 200 and first["length"] == 500
    assert out["strings"][1]["string"] == "short!"


def test_filters_take_n_and_paging() -> None:
    data = b"\0".join(f"item{i:03d}".encode() for i in range(50))
    out = find_strings(data, take_n_strings=10)
    assert len(out["strings"]) == 10 and out["has_more"] and out["next_offset"] == out["strings"][-1]["offset"] + 8
    page2 = find_strings(data[out["next_offset"]:], offset=out["next_offset"], content_length=len(data),
                         take_n_strings=10)
    assert page2["strings"][0]["string"] == "item010"
    assert [s["string"] for s in find_strings(data, filter="ITEM04")["strings"]][:2] == ["item040", "item041"]
    assert [s["string"] for s in find_strings(data, regex=r"7$")["strings"]] == [f"item{i}7" for i in
                                                                               ("00", "01", "02", "03", "04")]
    with pytest.raises(BadRequest):
        find_strings(data, regex="(")


def test_a_string_crossing_the_window_end_is_left_for_the_next_page() -> None:
    data = b"first\0second-string-running-on"
    out = find_strings(data[:15], content_length=len(data))
    assert [s["string"] for s in out["strings"]] == ["first"] and out["next_offset"] == 6 and out["has_more"]


def test_fixture_strings() -> None:
    utf16 = (FIXTURES / "0ca0bafc3d3fd6960c7f7bc6c63064279746bab14ea7aaed735f43049c9627dc.txt").read_bytes()
    assert any(s["encoding"] == "utf-16le" for s in find_strings(utf16)["strings"])
    a = (FIXTURES / "0000000000000000000000000000000000000000000000000000000000000001.txt").read_bytes()
    b = (FIXTURES / "0000000000000000000000000000000000000000000000000000000000000002.txt").read_bytes()
    common = common_strings(a, b)
    assert common["strings"] == sorted(common["strings"]) and common["strings"] and not common["incomplete"]
    assert set(common["strings"]) <= {s["string"] for s in find_strings(a, take_n_strings=10**6)["strings"]}
    assert common_strings(a, b, take_n_strings=1)["incomplete"]


def test_hex_view() -> None:
    data = bytes(range(40))
    out = hex_view(data, offset=32, content_length=100)
    assert out["header"] == {"address": "ADDRESS", "hex": [f"{i:02X}" for i in range(16)], "ascii": "ASCII"}
    rows = out["hex_strings"]
    assert [r["address"] for r in rows] == [32, 48, 64]
    assert rows[0]["hex"][:2] == ["00", "01"] and rows[2]["hex"][8:] == [""] * 8
    assert rows[2]["ascii"] == ".!\"#$%&'"  # space (32) is shown as "."
    assert out["has_more"] and out["next_offset"] == 72 and out["content_length"] == 100
    short = hex_view(b"MZ\x90\x00", shortform=True)
    assert short["hex_strings"][0]["hex"] == "4d5a 9000" and short["has_more"] is False


def test_hex_search() -> None:
    data = b"xxMZyyMZzzM"
    out = search_hex(data, "0x4d5a")
    assert [h["offset"] for h in out["strings"]] == [2, 6] and out["strings"][0]["string"] == "MZ"
    assert out["strings"][0]["encoding"] == "hex" and out["strings"][0]["length"] == 2
    capped = search_hex(data, "4d5a", take_n_hits=1)
    assert capped["has_more"] and capped["next_offset"] == 6
    assert search_hex(data, "4d5a", take_n_hits=0)["strings"] == []
    windowed = search_hex(data, "4d5a", content_length=20)
    assert [h["offset"] for h in windowed["strings"]] == [2, 6] and windowed["next_offset"] == 10
    assert search_hex(b"\x00\x5c", "005c")["strings"][0]["string"] == "\\x00\\x5c"
    with pytest.raises(BadRequest):
        search_hex(data, "zz")


def test_entropy() -> None:
    assert entropy(b"") == 0.0 and entropy(b"\0" * 100) == 0.0
    assert entropy(bytes(range(256))) == pytest.approx(8.0)
    data = b"\0" * 2048 + bytes(range(256)) * 8 + b"ab" * 100
    out = entropy_blocks([data[i:i + 777] for i in range(0, len(data), 777)], block_size=1024)
    assert out["blocks"][:4] == [0.0, 0.0, 8.0, 8.0] and out["blocks"][4] == pytest.approx(1.0)
    assert out["overall"] == pytest.approx(entropy(data), abs=1e-3)
    rnd = entropy_blocks([os.urandom(100_000)], block_size=block_size_for(100_000, 40))
    assert len(rnd["blocks"]) == 40 and all(7.5 < b <= 8 for b in rnd["blocks"])


def test_a_regex_that_backtracks_without_end_times_out(monkeypatch) -> None:
    """A caller's pattern ran unbounded: ``(a{1,2})+b`` took a minute over 40 characters, pinning a
    thread. It now stops at its time budget with ``time_out`` and what was found before (the
    ``regex`` module avoids that one; ``(a|aa)+b`` still backtracks there)."""
    import time

    from azul_metastore.content import strings as module

    monkeypatch.setattr(module, "REGEX_SECONDS", 0.2)
    data = b"found first\x00" + b"a" * 40 + b"\x00tail"
    started = time.monotonic()
    got = find_strings(data, regex=r"(a|aa)+b|found")
    assert time.monotonic() - started < 5
    assert got["time_out"] is True and got["has_more"] is True
    assert [s["string"] for s in got["strings"]] == ["found first"] and got["next_offset"] == 12


def test_lengths_and_repeats_past_what_a_pattern_holds_are_answered() -> None:
    """``min_length=2**32`` and ``regex=a{99999999999}`` raised OverflowError (500)."""
    assert find_strings(b"some text here", min_length=2**32, max_length=2**32 + 1)["strings"] == []
    assert common_strings(b"same text", b"same text", min_length=2**32)["strings"] == []
    with pytest.raises(BadRequest, match="invalid regex"):
        find_strings(b"some text here", regex="a{99999999999}")
