"""Events → index documents, shared by every index backend (inventory §3.7 and §4).

Input is the **JSON form of a validated event** - a dict exactly as the event log stores it
(``orjson.loads`` of the log record, or ``event.model_dump(mode="json", exclude_none=True)``).
Events are validated once, at intake; doing it again here would cost more than the whole encoding,
so the encoder trusts the shape and checks only what the index itself needs (§3.7): a configured
source, tracking fields, limits on features/datastreams, parseable ssdeep and TLSH, combinable
security. Anything else wrong raises :class:`~azul_metastore.index.documents.EncodeError`, whose
message and ``reason`` go to the dead-letter record.

The encoder never modifies its input. Documents may share leaf containers with it (``info``,
source ``references``/``settings`` dicts); treat both as read-only.

Binary events become a parent document (id = sha256, visible to all) and a metadata document whose
id and parts depend on the action (§4.3)::

    enriched                result                        id = sha256.cat.name.action.SECURITY
    augmented, sourced      result + submission           id += .track_source_references.TS.SOURCESEC
    extracted, mapped       result + submission + link    id += .parent_sha256   (when the path has a parent)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from azul_metastore.errors import InvalidInput
from azul_metastore.events.tracking import references_digest
from azul_metastore.index.documents import BINARY2, BinaryDocuments, Document, EncodeError
from azul_metastore.index.features import encode_features, md5_hex
from azul_metastore.index.labelling import DocumentSecurity
from azul_metastore.index.plugins import plugin_document
from azul_metastore.index.statuses import DOWNLOAD_STATUS, download_document, status_document
from azul_metastore.index.timestamps import to_utc_text
from azul_metastore.index.vectors import VectorError, encode_ssdeep, entropy_vector, tlsh_vector
from azul_metastore.security.labels import ANY, SecurityPolicy
from azul_metastore.settings import Settings

__all__ = ["DOWNLOAD_STATUS", "MAX_DATASTREAMS", "MAX_FEATURES", "EncodeError", "Encoder"]

logger = logging.getLogger(__name__)

MAX_DATASTREAMS = 100
MAX_FEATURES = 10_000

_NOT_ID_CHARS = re.compile(r"[^0-9a-zA-Z.]+")
_HASHES = ("sha512", "sha1", "md5")
_ENTITY_COPY = ("mime", "magic", "file_format", "file_extension", "size")
_NODE_KEYS = ("sha256", "action", "timestamp", "author", "relationship", "file_format", "filename", "language", "size")


def _strip(text: str) -> str:
    """Text usable inside a document id: only ``[0-9a-zA-Z.]`` kept."""
    return _NOT_ID_CHARS.sub("", text)


class Encoder:
    """Turns events into documents. Build one per process (it caches security look-ups).

    ``policy`` defaults to the security policy of ``settings``; pass one to share its caches.
    """

    def __init__(self, settings: Settings, policy: SecurityPolicy | None = None) -> None:
        self.policy = policy if policy is not None else SecurityPolicy.from_settings(settings)
        self.sources = frozenset(settings.sources)
        self.priority_references: dict[str, tuple[str, ...]] = {
            name: tuple(refs) for name, refs in settings.source_priority_references.items() if refs
        }
        self.status_partition_unit = settings.status_partition_unit
        self.security = DocumentSecurity(self.policy)

    # --- binary events ------------------------------------------------------------------------

    def _node(self, node: Mapping[str, Any], where: str) -> dict[str, Any]:
        """A path node as stored (the link part's ``parent``), with its sha256_author_action."""
        out: dict[str, Any] = {}
        for key in _NODE_KEYS:
            value = node.get(key)
            if value is not None:
                out[key] = value
        out["sha256"] = sha256 = str(node["sha256"]).lower()
        out["timestamp"] = to_utc_text(node["timestamp"])
        author = out["author"] = self.security.author(node["author"], where + ".author.security")
        out["relationship"] = dict(node.get("relationship") or {})
        out["encoded"] = {
            "sha256_author_action": f"{sha256}.{author.get('category') or ''}.{author['name']}.{node['action']}"
        }
        return out

    # --- binary events ------------------------------------------------------------------------

    def encode_binary(self, event: Mapping[str, Any]) -> BinaryDocuments:
        """The parent and metadata documents of a binary event (§4.3). Raises EncodeError."""
        return self._guarded("binary", self._encode_binary, event)

    def _encode_binary(self, event: Mapping[str, Any]) -> BinaryDocuments:
        entity = event["entity"]
        source = event["source"]
        action = event["action"]
        author = event["author"]
        path = source["path"]
        features = entity.get("features") or ()
        datastreams = entity.get("datastreams") or ()
        if len(features) > MAX_FEATURES:
            raise EncodeError(f"{len(features)} features is over the limit of {MAX_FEATURES}", "too_many_features")
        if len(datastreams) > MAX_DATASTREAMS:
            raise EncodeError(
                f"{len(datastreams)} datastreams is over the limit of {MAX_DATASTREAMS}", "too_many_datastreams"
            )
        source_name = source["name"]
        if source_name not in self.sources:
            raise EncodeError(
                f"source {source_name!r} is not configured; configured sources: {', '.join(sorted(self.sources))}",
                "unknown_source",
                source=source_name,
            )
        tsr = event.get("track_source_references")
        track_authors = event.get("track_authors")
        if not tsr or not track_authors:
            missing = "track_source_references" if not tsr else "track_authors"
            raise EncodeError(f"{missing} is empty; events must pass through intake first", "missing_tracking")
        if not path:
            raise EncodeError("source.path is empty", "bad_shape")
        sha256 = entity.get("sha256")
        if not sha256:
            raise EncodeError("entity.sha256 is required", "missing_sha256")
        sha256 = sha256.lower()

        # Security: the reader must be allowed by the source and every author along the path.
        author_doc = self.security.author(author, "author.security")
        securities = [author_doc["security"], *self.security.path_securities(source, "source")]
        source_security = securities[1]
        security = self.security.combine(tuple(securities))

        category = author.get("category") or ""
        saa = f"{sha256}.{category}.{author['name']}.{action}"
        body: dict[str, Any] = {"sha256": sha256}
        for key in _HASHES:
            value = entity.get(key)
            if value is not None:
                body[key] = value.lower()
        info = entity.get("info") or None
        ssdeep = entity.get("ssdeep") or (info.get("ssdeep") if info else None)
        if ssdeep:
            if not isinstance(ssdeep, str):
                raise EncodeError(f"ssdeep {ssdeep!r} is not text", "bad_ssdeep")
            try:
                body["encoded_ssdeep"] = encode_ssdeep(ssdeep)
            except VectorError as exc:
                raise EncodeError(str(exc), "bad_ssdeep") from exc
            body["ssdeep"] = ssdeep
        tlsh = entity.get("tlsh")
        if tlsh is not None:
            body["tlsh"] = tlsh
        tlsh = tlsh or (info.get("tlsh") if info else None)
        if tlsh:
            try:
                if not isinstance(tlsh, str):
                    raise VectorError(f"TLSH {tlsh!r} is not text")
                vector = tlsh_vector(tlsh)
            except VectorError as exc:
                raise EncodeError(str(exc), "bad_tlsh") from exc
            if vector is not None:
                body["tlsh_vector"] = vector
        for key in _ENTITY_COPY:
            value = entity.get(key)
            if value is not None:
                body[key] = value
        if info:
            body["info"] = info
            try:
                body["uniq_info"] = f"{saa}.{md5_hex(orjson.dumps(info, option=orjson.OPT_SORT_KEYS).decode())}"
            except (orjson.JSONEncodeError, TypeError) as exc:
                raise EncodeError(f"entity.info is not JSON-able: {exc}", "bad_info") from exc
            entropy = info.get("entropy")
            if isinstance(entropy, dict) and isinstance(entropy.get("blocks"), list):
                try:
                    vector = entropy_vector(entropy["blocks"])
                except (TypeError, ValueError):
                    logger.warning("entity %s: info.entropy.blocks are not numbers; no entropy vector", sha256)
                    vector = None
                if vector is not None:
                    body["entropy_vector"] = vector
        if features:
            summary = encode_features(features, context=f"{saa} v{author.get('version') or ''}")
            body["features"] = summary.features
            body["features_map"] = summary.features_map
            if summary.filename:
                body["filename"] = summary.filename
            body["num_feature_names"] = summary.num_feature_names
            body["num_feature_values"] = len(summary.features)
            body["uniq_features"] = f"{saa}.{summary.uniq_digest}"
        if datastreams and action != "enriched":
            # sorted so that uniq_data (and the stored order) does not depend on the plugin's order
            streams = sorted((dict(ds) for ds in datastreams), key=lambda ds: ds.get("sha256") or "")
            body["uniq_data"] = f"{saa}.{md5_hex('.'.join(ds.get('sha256') or '' for ds in streams))}"
            if action == "augmented":
                # the content stream is already recorded by the sourced/extracted result
                streams = [ds for ds in streams if ds.get("label") != "content"]
            body["datastreams"] = streams
        body["sha256_author_action"] = saa
        body["binary_info"] = {"name": "metadata", "parent": sha256}
        body["security"] = security
        body["encoded_security"] = self.security.encoded(security)
        body["timestamp"] = to_utc_text(event["timestamp"])
        body["action"] = action
        body["author"] = author_doc
        body["track_author"] = track_authors[-1]

        doc_id = f"{saa}.{_strip(security)}"
        if action != "enriched":
            doc_id = self._submission(body, event, source, source_security, doc_id, len(path), action)
            if action in ("extracted", "mapped") and len(path) >= 2:
                doc_id = self._link(body, event, path, doc_id)
        metadata = Document(BINARY2, doc_id, body, routing=sha256, partition=sha256[0])
        parent = Document(
            BINARY2,
            sha256,
            {"binary_info": {"name": "binary"}, "security": ANY, "encoded_security": self.security.encoded(ANY)},
            routing=sha256,
            partition=sha256[0],
        )
        return BinaryDocuments(parent, metadata, f"{doc_id}.{author.get('version') or ''}", action == "mapped")

    def _submission(
        self,
        body: dict[str, Any],
        event: Mapping[str, Any],
        source: Mapping[str, Any],
        source_security: str,
        result_id: str,
        path_length: int,
        action: str,
    ) -> str:
        """Add the submission part (which source, when, with which references); return its id."""
        timestamp = to_utc_text(source["timestamp"])
        tsr = event["track_source_references"]
        stored: dict[str, Any] = {"security": source_security, "name": source["name"], "timestamp": timestamp}
        references = source.get("references")
        settings = source.get("settings")
        if settings:
            stored["settings"] = settings
            stored["encoded_settings"] = [{"key": k, "value": settings[k]} for k in sorted(settings)]
        if references:
            stored["references"] = references
            encoded = [{"key": k, "value": v, "key_value": f"{k}.{v}"} for k, v in references.items()]
            encoded.sort(key=lambda r: r["key_value"])
            stored["encoded_references"] = encoded
        # An augmented node is another view of the binary above it, not a level of its own.
        body["depth"] = max(0, path_length - 2) if action == "augmented" else path_length - 1
        body["source"] = stored
        body["track_source_references"] = tsr
        grouped = tsr
        priority = self.priority_references.get(source["name"])
        if priority and references and any(k in references for k in priority):
            grouped = f"{source['name']}.{references_digest(references, list(priority))}"
        body["track_source_references_grouped"] = grouped
        return f"{result_id}.{tsr}.{_strip(timestamp)}.{_strip(source_security)}"

    def _link(
        self, body: dict[str, Any], event: Mapping[str, Any], path: list[Mapping[str, Any]], submission_id: str
    ) -> str:
        """Add the link part (the parent this binary came from); return its id."""
        track_links = event.get("track_links")
        track_authors = event["track_authors"]
        if not track_links:
            raise EncodeError(
                "track_links is empty for a child event; events must pass through intake first", "missing_tracking"
            )
        if len(track_authors) < 2:
            raise EncodeError("track_authors has no entry for the parent node", "missing_tracking")
        parent = self._node(path[-2], f"source.path[{len(path) - 2}]")
        body["track_link"] = track_links[-1]
        body["parent"] = parent
        body["parent_track_author"] = track_authors[-2]
        body["parent_relationship"] = dict(path[-1].get("relationship") or {})
        body["ancestors"] = _ancestors(path)
        return f"{submission_id}.{parent['sha256']}"

    # --- status, download and plugin events ---------------------------------------------------

    def encode_status(self, event: Mapping[str, Any]) -> Document:
        """A status document (§4.7): id = kafka_key, partition = time bucket. Raises EncodeError."""
        return self._guarded("status", status_document, event, self.security, self.status_partition_unit)

    def encode_download(self, event: Mapping[str, Any]) -> Document:
        """A download event as a status document (§4.7). Raises EncodeError."""
        return self._guarded("download", download_document, event, self.security, self.status_partition_unit)

    def encode_plugin(self, event: Mapping[str, Any]) -> Document:
        """A plugin document (§4.8); config values must be JSON text. Raises EncodeError."""
        return self._guarded("plugin", plugin_document, event, self.security)

    @staticmethod
    def _guarded(kind: str, encode: Callable[..., Document], event: Mapping[str, Any], *args: Any) -> Document:
        try:
            return encode(event, *args)
        except EncodeError:
            raise
        except InvalidInput as exc:
            raise EncodeError(str(exc), "bad_value") from exc
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise EncodeError(f"the event is not a valid {kind} event ({problem})", "bad_shape") from exc
        except (ValueError, OverflowError) as exc:
            # a value no check above foresaw: the event goes to the dead letters, not the ingestor down
            raise EncodeError(f"the {kind} event holds a value that cannot be indexed "
                              f"({type(exc).__name__}: {exc})", "bad_value") from exc


def _ancestors(path: list[Mapping[str, Any]]) -> list[str]:
    """The sha256s of the binaries a child event's path passes through above it (its parent last),
    each once: the lineage the event recorded. A lineage walk reads with it the binaries it is
    likely to reach several levels away in one read (``MetadataStore.lineage_below``); a link
    document itself names only its parent."""
    return list(dict.fromkeys(str(node["sha256"]).lower() for node in path[:-1] if node.get("sha256")))
