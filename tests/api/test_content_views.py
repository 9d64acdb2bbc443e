"""Content views (hex view, strings, hex search, common strings) over real HTTP: bytes stored through
the stream API, found through documents the caller may see, 404 otherwise."""

from __future__ import annotations

from typing import Any

import pytest

from azul_metastore.search import content
from tests.support.events import binary_event
from tests.support.multiuser import as_user, multi_server, multi_services, post_events, upload  # noqa: F401

LOW, MED = "LOW TLP:CLEAR", "MEDIUM REL:APPLE"
TEXT = b"MZ\x90\x00hello world\x00\x01\x02" + "wide string".encode("utf-16le") + b"\xff\xfe" + b"A" * 300 + b"\x00end!"
OTHER = b"\x00\x00hello world\x00\x00only in other\x00"
SECRET = b"\x00top secret bytes\x00"


@pytest.fixture
def stored(multi_server: str) -> dict[str, str]:  # noqa: F811
    shas = {"text": upload(multi_server, "samples", "content", TEXT),
            "other": upload(multi_server, "samples", "content", OTHER),
            "secret": upload(multi_server, "samples", "content", SECRET)}
    post_events(multi_server, "binary", [binary_event(sha256=shas["text"], security=LOW),
                                         binary_event(sha256=shas["other"], security=LOW),
                                         binary_event(sha256=shas["secret"], security=MED),
                                         binary_event(sha256="f" * 64, security=LOW)])  # indexed, no bytes
    return {"server": multi_server, **shas}


def get(stored: dict[str, str], user: str, path: str, **params: Any) -> Any:
    with as_user(stored["server"], user) as client:
        return client.get(f"/api/v0/binaries/{path}", params=params)


def ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "data" not in body  # content views answer without the envelope, as Azul
    return body


def test_hexview_rows_and_paging(stored: dict[str, str]) -> None:
    view = ok(get(stored, "low", f"{stored['text']}/hexview"))
    assert view["content_length"] == len(TEXT) and not view["has_more"] and view["next_offset"] == len(TEXT)
    assert view["header"] == {"address": "ADDRESS", "hex": [f"{i:02X}" for i in range(16)], "ascii": "ASCII"}
    first = view["hex_strings"][0]
    assert first["address"] == 0 and first["hex"][:4] == ["4D", "5A", "90", "00"] and first["ascii"][:4] == "MZ.."
    page = ok(get(stored, "low", f"{stored['text']}/hexview", offset=16, max_bytes_to_read=32, shortform="true"))
    assert [r["address"] for r in page["hex_strings"]] == [16, 32]
    assert page["has_more"] and page["next_offset"] == 48
    assert page["hex_strings"][0]["hex"] == " ".join(TEXT[16:32][i:i + 2].hex() for i in range(0, 16, 2))


def test_strings_are_labelled_as_bedrock_names_them(stored: dict[str, str]) -> None:
    found = ok(get(stored, "low", f"{stored['text']}/strings", max_length=100))
    by_text = {s["string"]: s for s in found["strings"]}
    assert by_text["hello world"] == {"string": "hello world", "offset": 4, "length": 11, "encoding": "ASCII"}
    assert by_text["wide string"]["encoding"] == "UTF-16"
    long = next(s for s in found["strings"] if s["string"].startswith("AAAA"))
    assert len(long["string"]) == 100 and long["length"] == 300  # truncated, not dropped
    assert not found["has_more"] and found["time_out"] is False
    assert [s["string"] for s in ok(get(stored, "low", f"{stored['text']}/strings", filter="WORLD"))["strings"]] == [
        "hello world"]
    assert [s["string"] for s in ok(get(stored, "low", f"{stored['text']}/strings", regex="^w.*g$"))["strings"]] == [
        "wide string"]
    assert get(stored, "low", f"{stored['text']}/strings", regex="(").status_code == 400
    first = ok(get(stored, "low", f"{stored['text']}/strings", take_n_strings=1))
    assert len(first["strings"]) == 1 and first["has_more"] and first["next_offset"] > 4


def test_strings_and_hex_search_across_chunks(stored: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "CHUNK", 8)  # every string straddles chunk ends
    monkeypatch.setattr(content, "MAX_GROW", 400)  # the 300-byte string is read on, not split
    small = ok(get(stored, "low", f"{stored['text']}/strings", max_length=1000))
    monkeypatch.setattr(content, "CHUNK", 8 * 1024 * 1024)
    whole = ok(get(stored, "low", f"{stored['text']}/strings", max_length=1000))
    assert small == whole
    monkeypatch.setattr(content, "CHUNK", 5)  # every pattern straddles chunk ends
    hits = ok(get(stored, "low", f"{stored['text']}/search/hex", filter="414141"))
    assert [h["offset"] for h in hits["strings"]][:3] == [TEXT.index(b"AAA"), TEXT.index(b"AAA") + 1,
                                                          TEXT.index(b"AAA") + 2]
    assert len(hits["strings"]) == 298 and not hits["has_more"]


def test_hex_search(stored: dict[str, str]) -> None:
    hits = ok(get(stored, "low", f"{stored['text']}/search/hex", filter="0x6865 6c6c6f"))
    assert hits["strings"] == [{"string": "hello", "offset": 4, "length": 5, "encoding": "hex"}]
    assert not hits["has_more"]
    limited = ok(get(stored, "low", f"{stored['text']}/search/hex", filter="41", take_n_hits=2))
    assert [h["offset"] for h in limited["strings"]] == [TEXT.index(b"A"), TEXT.index(b"A") + 1]
    assert limited["has_more"] and limited["next_offset"] == TEXT.index(b"A") + 2
    none = ok(get(stored, "low", f"{stored['text']}/search/hex", filter="41", take_n_hits=0))
    assert none["strings"] == [] and none["has_more"]
    window = ok(get(stored, "low", f"{stored['text']}/search/hex", filter="6865", offset=5, max_bytes_to_read=10))
    assert window["strings"] == [] and window["has_more"]
    assert get(stored, "low", f"{stored['text']}/search/hex", filter="xyz").status_code == 400


def test_common_strings(stored: dict[str, str]) -> None:
    both = ok(get(stored, "low", f"{stored['text']}/{stored['other']}/strings"))
    assert both == {"strings": ["hello world"], "incomplete": False}
    partial = ok(get(stored, "low", f"{stored['text']}/{stored['other']}/strings", max_bytes_to_read=16))
    assert partial == {"strings": ["hello world"], "incomplete": True}


def test_content_the_caller_may_not_see_does_not_exist(stored: dict[str, str]) -> None:
    secret = stored["secret"]
    for path in (f"{secret}/hexview", f"{secret}/strings", f"{secret}/search/hex",
                 f"{stored['text']}/{secret}/strings"):
        resp = get(stored, "low", path, filter="00")
        assert resp.status_code == 404, path
        assert secret not in resp.text or "may see" in resp.text
    assert ok(get(stored, "med", f"{secret}/strings"))["strings"][0]["string"] == "top secret bytes"
    with as_user(stored["server"], "med") as client:
        hidden = client.get(f"/api/v0/binaries/{secret}/hexview", params={"x": "MEDIUM"})
    assert hidden.status_code == 404
    assert get(stored, "low", f"{'f' * 64}/hexview").status_code == 404  # indexed, but no bytes stored
    assert get(stored, "low", f"{'9' * 64}/hexview").status_code == 404
    assert get(stored, "low", "not-a-hash/hexview").status_code in (404, 422)
    assert get(stored, "low", f"{stored['text'].upper()}/hexview").status_code == 200
