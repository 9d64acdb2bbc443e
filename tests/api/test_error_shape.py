"""One error shape everywhere, whatever raised it."""

from __future__ import annotations

import httpx


def check_shape(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"detail", "ref", "message"}
    assert set(body["detail"]) == {"ref", "internal", "message", "parameters"}
    assert body["ref"] == body["detail"]["ref"] and body["message"] == body["detail"]["message"]
    return body


def test_error_shape_for_our_errors_validation_and_unknown_routes(server: str) -> None:
    ours = check_shape(httpx.post(f"{server}/api/v2/event", params={"model": "cat"}, content=b"[]"), 400)
    assert ours["detail"]["internal"] == "BadRequest"
    validation = check_shape(httpx.get(f"{server}/api/v2/event/binary/passive"), 422)
    assert "name" in validation["message"]
    check_shape(httpx.get(f"{server}/no/such/route"), 404)


def test_request_id_is_echoed(server: str) -> None:
    resp = httpx.post(f"{server}/api/v2/event", params={"model": "cat"}, content=b"[]",
                      headers={"x-request-id": "req-123"})
    assert resp.json()["ref"] == "req-123"
