"""What the encoder hands to an index backend: documents with their id, routing and partition.

The body of a document is plain JSON-able data (dicts, lists, str, int, float, bool) in the shape of
inventory §4; the envelope says where it goes. Backends store ``body`` as they like (a JSON column,
an OpenSearch ``_source``) and use the envelope for the key and the physical location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from azul_metastore.errors import InvalidInput

__all__ = ["ANNOTATION", "BINARY2", "PLUGIN", "STATUS", "BinaryDocuments", "DocType", "Document", "EncodeError"]

DocType = Literal["binary2", "status", "plugin", "annotation"]
BINARY2: DocType = "binary2"
STATUS: DocType = "status"
PLUGIN: DocType = "plugin"
ANNOTATION: DocType = "annotation"


class EncodeError(InvalidInput):
    """An event the index cannot take (§3.7). The message says why, for the dead-letter record.

    ``parameters["reason"]`` is a short stable code (``too_many_features``, ``unknown_source``,
    ``bad_ssdeep``, ``bad_tlsh``, ``missing_tracking``, ``bad_security``, ``bad_config``, ...) so the
    ingestor can count rejections by cause.
    """

    def __init__(self, message: str, reason: str, **parameters: Any) -> None:
        super().__init__(message, reason=reason, **parameters)
        self.reason = reason


@dataclass(slots=True)
class Document:
    """One index document.

    * ``id`` - the document id (upsert key: a later document with the same id replaces it);
    * ``routing`` - documents sharing it must live together (binary2: the sha256, so a binary's
      parent and metadata documents can be joined); None when it does not matter;
    * ``partition`` - the physical bucket: binary2 ``sha256[0]``, status the time bucket of
      ``status_partition_unit``, plugin None.
    """

    doc_type: DocType
    id: str
    body: dict[str, Any]
    routing: str | None = None
    partition: str | None = None


@dataclass(slots=True)
class BinaryDocuments:
    """The two documents of one binary event (§4.3) and what the ingest dedupe cache needs (§4.6).

    ``cache_key`` is the metadata id plus the author version: the id deliberately leaves the version
    out (a new plugin version overwrites the old result), but a resend of the same version can be
    skipped. ``bypass_cache`` is true for ``mapped`` events, which Azul always writes.
    """

    parent: Document
    metadata: Document
    cache_key: str
    bypass_cache: bool

    @property
    def documents(self) -> list[Document]:
        return [self.parent, self.metadata]
