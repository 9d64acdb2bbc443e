"""Expedite: run the plugins again on a binary, now (``POST /v0/binaries/{sha256}/expedite``, §5.5).

The binary's ``sourced`` and ``extracted`` documents are decoded back to events (§4.11), flagged
``expedite`` (and ``bypass_cache`` on request: plugins then recompute instead of answering from
their result cache) and published again; intake routes expedited events to the ``binary.expedite``
lane, which plugins and the binary ingestor read first.

As in Azul every submission of the binary is re-published (the writer account's view), so the
plugins see it as it was submitted to each source - but only when the caller can see the binary at
all: otherwise nothing is published. The answer is ``true`` either way, so it reveals nothing.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from azul_metastore.app import Services
from azul_metastore.audit import audit
from azul_metastore.index.decoder import decode_binary
from azul_metastore.models.events import BinaryEvent
from azul_metastore.security import Access
from azul_metastore.submissions.checks import check_writable

__all__ = ["CHUNK", "expedite"]

log = logging.getLogger(__name__)

#: events published per batch (Azul posts to its dispatcher in chunks of 100)
CHUNK = 100


def expedite(svc: Services, access: Access, sha256: str, *, bypass_cache: bool = False,
             request_id: str = "") -> bool:
    """Re-publish the binary's submissions with the expedite flag; returns True (ReadOnly: 423)."""
    check_writable(svc.settings)
    sha256 = sha256.lower()
    if not svc.index.documents([sha256], access, limit=1):
        return True
    docs = svc.index.documents([sha256], Access.system_access(svc.policy), actions=("sourced", "extracted"))
    events: list[BinaryEvent] = []
    for doc in docs:
        raw = decode_binary(doc)
        raw["flags"] = {"expedite": True, "bypass_cache": bypass_cache}
        try:
            events.append(BinaryEvent.model_validate(raw))
        except ValidationError as exc:  # a document the decoder cannot rebuild: skip it, say so
            log.warning("expedite %s: document cannot be re-published: %s", sha256, exc)
    for start in range(0, len(events), CHUNK):
        svc.intake.publish("binary", events[start:start + CHUNK])
    audit("binary_expedite", user=access.username, request_id=request_id, sha256=sha256, events=len(events),
          bypass_cache=bypass_cache)
    return True
