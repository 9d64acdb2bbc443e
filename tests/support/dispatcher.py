"""Reading the dispatcher's multipart answers in tests, independently of our own writer."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any

import httpx


def parse_events_response(resp: httpx.Response) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctype = resp.headers["content-type"]
    assert ctype.startswith("multipart/form-data"), ctype
    raw = f"Content-Type: {ctype}\r\n\r\n".encode() + resp.content
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = json.loads(part.get_payload(decode=True))
    return parts["info"], parts["events"]["events"]
