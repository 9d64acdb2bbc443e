"""Index names, templates and mappings of the OpenSearch index (inventory §4.1, §4.3-4.9).

Layout, per partition ``P`` and document type ``D`` (``binary2``, ``status``, ``plugin``,
``annotation``):

* alias ``azul.{P}.{D}``: every read goes through it;
* open indices ``azul.o.{P}.{D}[.ext]``: documents within the minimum access (no DLS needed);
* shut indices ``azul.x.{P}.{D}[.ext]``: everything else, protected by the ``azul_read`` DLS role;
* binary2 documents always go to a shut index: ``.{sha256[0]}`` in Azul's layout (``hex``, sixteen
  indices), or the one index ``azul.x.{P}.binary2`` (``single``, setting
  ``opensearch_binary_indices``); status documents to a time bucket ``.{partition}`` so retention
  can drop whole indices.

The binary2 layout is a property of the partition, recorded in its template's ``_meta``: a search
of a few binaries goes to the indices their sha256s name, so documents of one partition spread over
both layouts would be missed or doubled. Sixteen indices spread a cluster's load over many shards;
on one node every search pays for sixteen shards, so finds took about twice as long at 200,000
binaries (``bench.query``) as on one index.

One composable index template per type carries the alias, settings and a ``dynamic: strict``
mapping; new feature names are added to ``features_map`` on demand (:meth:`Templates.add_features`)
because strict mappings refuse unknown fields rather than guessing a type for them.

Indexing cost shaped three choices (template 20261126):

* ``features_map.<name>`` is a keyword only. Its numbers are indexed as ``features_num.<name>``
  doubles, found by the adapter (``index/numbers.py``) and left out of documents read back. Before, a
  ``double`` sub-field with ``ignore_malformed`` tried to parse every value, and every text value
  cost an exception and an ``_ignored`` entry.
* ``tlsh_vector`` and ``entropy_vector`` are stored, not indexed. No query uses a k-NN graph (TLSH
  similarity reads the hashes themselves and computes real TLSH distances, ``reads_similar.py``).
* Only what a query of this metastore reads is indexed; the rest of a document stays in
  ``_source``. So ``features`` maps ``name`` and ``enriched`` only (``features_map`` already indexes
  every value), filepaths are keywords without Azul's path-hierarchy sub-fields, and
  ``encoded_ssdeep`` (Azul's n-gram ssdeep search; ours reads ssdeep prefixes) is stored only.

Profiles had put the first two at 15-20% and ~15% of the node's indexing time. End to end, on one
node sharing 2 cores with the ingestors, the three together took ``bench.ingest --backend
opensearch`` only from 1,285 to 1,347 events/s, and the index from 6.4 to 5.9 GB per million events.

Template 20261127 stores ``brief``, each metadata document without its features, outside
``_source``, for reads of a few fields (``brief.py``).

Template 20261128 sorts binary2 indices by ``sha256``, ascending (``BINARY_SORT``). Almost every
read of this metastore is about a few binaries, named by sha256: the documents of one binary are now
neighbours on disk. Interleaved A/B at 210,010 binaries: a feature-value find (a collapse of the
matches, ``reads._find_by_documents``) p50 54.4 → 51.9 ms, p90 73 → 63; finds by hashes and lineage
walks unchanged within noise. Ascending, the order binaries are listed in
(``list_binaries``): a sort against an index's order is the slow one (match-all, first 1,000 of
1,000,000 binaries: 41-77 ms ascending, 172-191 descending). Sorting costs indexing time (flushes
and merges sort; measured in bench/HISTORY.md). It is fixed when an index is made: indices made by an
older template stay unsorted, which changes no answer.

Template 20261130 keeps ``brief`` and ``features_num`` in ``_source``. Excluding them made the node
parse and re-serialise every document it indexed (``SourceFieldMapper.applyFilters`` in its hot
threads): A/B over 60,000 events, excluded vs kept, 1,022 vs 1,286 and 1,068 vs 1,406 events/s, and
the store 25 % smaller kept (the brief repeats text LZ4 finds in the same block). Reads drop both
(``brief.document``). A mapping's ``_source`` cannot change once an index exists: indices made by an
older template keep excluding them, which changes no answer.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any, Literal

from opensearchpy import OpenSearch

from azul_metastore.errors import ConfigError
from azul_metastore.index.opensearch.client import translated

log = logging.getLogger(__name__)

DOC_TYPES = ("binary2", "status", "plugin", "annotation", "tombstone")
#: bumped whenever a mapping changes (20261127 added ``brief``; 20261128 sorts binary2 by sha256;
#: 20261129 added ``ancestors``; 20261130 stopped excluding ``brief`` and ``features_num`` from ``_source``)
TEMPLATE_VERSION = 20261130
#: the oldest template version ``force-update-templates`` can upgrade in place (it can only add
#: fields); a partition made with an older one needs a new partition and a reingest (§1.4).
#: 20261126 changed field types (``tlsh_vector``) and removed fields.
UPGRADABLE_FROM = 20261126
#: longest keyword value indexed, as Azul's ``ignore_above``
IGNORE_ABOVE = 8000

#: where binary2 documents go: ``hex`` (Azul: one index per first hex digit of the sha256) or ``single``
BinaryLayout = Literal["hex", "single"]

#: the order of every binary2 index made by this template (index settings, fixed at creation)
BINARY_SORT = {"sort.field": "sha256", "sort.order": "asc"}

_KW = {"type": "keyword"}
_KW_LONG = {"type": "keyword", "ignore_above": IGNORE_ABOVE}


def feature_fields(names: set[str]) -> dict[str, Any]:
    """Mappings of new feature names: ``features_map.<name>`` keywords and ``features_num.<name>``
    doubles (its values that are numbers, so ``features_map.count:>3`` compares numbers)."""
    ordered = sorted(names)
    return {"features_map": {"properties": {n: _KW_LONG for n in ordered}},
            "features_num": {"properties": {n: {"type": "double"} for n in ordered}}}


class IndexNames:
    """Names of the aliases, indices and templates of one partition."""

    def __init__(self, partition: str, binary_layout: BinaryLayout = "hex") -> None:
        self.partition = partition
        self.binary_layout = binary_layout

    def binary(self, sha256: str) -> str:
        """The index holding the binary2 documents of a binary."""
        return self.shut("binary2", sha256[:1].lower() if self.binary_layout == "hex" else None)

    def binaries(self, sha256s: Sequence[str]) -> str:
        """The indices holding these binaries' binary2 documents, for reads about a few binaries
        (one index answers in a fraction of the time the sixteen behind the alias take). Patterns,
        so an index not created yet matches nothing instead of failing."""
        return ",".join(sorted({self.binary(s) + "*" for s in sha256s}))

    def alias(self, doc_type: str) -> str:
        return f"azul.{self.partition}.{doc_type}"

    def open(self, doc_type: str, ext: str | None = None) -> str:
        return f"azul.o.{self.partition}.{doc_type}" + (f".{ext.lower()}" if ext else "")

    def shut(self, doc_type: str, ext: str | None = None) -> str:
        return f"azul.x.{self.partition}.{doc_type}" + (f".{ext.lower()}" if ext else "")

    def patterns(self, doc_type: str) -> list[str]:
        return [self.open(doc_type), self.open(doc_type) + ".*", self.shut(doc_type), self.shut(doc_type) + ".*"]

    def template(self, doc_type: str) -> str:
        return f"azul.{self.partition}.{doc_type}"


def _security() -> dict[str, Any]:
    return {
        "security": _KW,
        "encoded_security": {"properties": {"exclusive": _KW, "inclusive": _KW, "markings": _KW,
                                            "num_exclusive": {"type": "integer"}}},
    }


def _author() -> dict[str, Any]:
    return {"dynamic": False, "properties": {k: _KW for k in ("security", "category", "name", "version")}}


def _identity() -> dict[str, Any]:
    props: dict[str, Any] = {k: _KW for k in ("sha256", "sha512", "sha1", "md5", "ssdeep", "tlsh", "mime", "magic",
                                               "file_format", "file_extension")}
    props["size"] = {"type": "unsigned_long"}
    return props


def binary2_mapping() -> dict[str, Any]:
    enriched = {k: _KW_LONG for k in ("binary_string", "scheme", "netloc", "params", "query", "fragment",
                                       "username", "password", "hostname", "ip")}
    enriched.update({
        "integer": {"type": "long", "ignore_malformed": True},
        "float": {"type": "double", "ignore_malformed": True},
        "datetime": {"type": "date", "ignore_malformed": True},
        "port": {"type": "integer", "ignore_malformed": True},
        "filepath": _KW_LONG,
    })
    streams = _identity()
    streams.update({"identify_version": {"type": "integer"}, "label": _KW, "language": _KW})
    node = {"dynamic": False, "properties": {
        "author": _author(), "sha256": _KW, "action": _KW, "timestamp": {"type": "date"}, "file_format": _KW,
        "size": {"type": "unsigned_long"}, "filename": _KW, "language": _KW,
        "relationship": {"type": "object", "dynamic": False},
        "encoded": {"properties": {"sha256_author_action": _KW}}}}
    props: dict[str, Any] = {
        **_identity(),
        "sha256": {"type": "keyword", "eager_global_ordinals": True},
        "features": {"dynamic": False, "properties": {
            "name": _KW_LONG, "enriched": {"dynamic": False, "properties": enriched}}},
        "features_map": {"type": "object", "dynamic": "strict", "properties": {}},
        "features_num": {"type": "object", "dynamic": "strict", "properties": {}},
        "info": {"type": "object", "enabled": False},
        "datastreams": {"dynamic": False, "properties": streams},
        "timestamp": {"type": "date"},
        "action": _KW,
        "author": _author(),
        "track_author": _KW,
        **_security(),
        "binary_info": {"type": "join", "relations": {"binary": "metadata"}},
        "filename": _KW_LONG,
        "num_feature_names": {"type": "integer"},
        "num_feature_values": {"type": "integer"},
        "sha256_author_action": _KW,
        "uniq_features": _KW,
        "uniq_info": _KW,
        "uniq_data": _KW,
        "encoded_ssdeep": {"type": "object", "enabled": False},
        "tlsh_vector": {"type": "object", "enabled": False},
        "entropy_vector": {"type": "object", "enabled": False},
        "depth": {"type": "integer"},
        "source": {"dynamic": False, "properties": {
            "security": _KW, "name": _KW, "timestamp": {"type": "date"},
            "settings": {"type": "object", "enabled": False},
            "encoded_settings": {"type": "object", "enabled": False},
            "references": {"type": "object", "enabled": False},
            "encoded_references": {"properties": {"key": _KW_LONG, "value": _KW_LONG, "key_value": _KW_LONG}}}},
        "track_source_references": _KW,
        "track_source_references_grouped": _KW,
        "track_link": _KW,
        "parent": node,
        "parent_track_author": _KW,
        "parent_relationship": {"type": "object", "dynamic": False},
        # the binaries a child's path passed through (``MetadataStore.lineage_below``)
        "ancestors": _KW,
        # the document without its features, for reads of a few fields (``brief.py``)
        "brief": {"type": "keyword", "index": False, "doc_values": False, "store": True},
    }
    # ``_source`` keeps ``brief`` and ``features_num``: excluding them cost a third of indexing (20261130)
    return {"dynamic": "strict", "_routing": {"required": True}, "properties": props}


def status_mapping() -> dict[str, Any]:
    return {"dynamic": "strict", "properties": {
        **_security(), "timestamp": {"type": "date"}, "model_version": {"type": "integer"}, "author": _author(),
        "entity": {"properties": {
            "status": _KW, "error": {"type": "keyword", "ignore_above": 1000},
            "message": {"type": "keyword", "ignore_above": 1000}, "runtime": {"type": "double"},
            "input": {"properties": {"entity": {"properties": {"sha256": _KW}}}}}},
        "encoded": {"properties": {"author": _KW}}}}


def plugin_mapping() -> dict[str, Any]:
    return {"dynamic": "strict", "properties": {
        **_security(), "timestamp": {"type": "date"}, "model_version": {"type": "integer"}, "author": _author(),
        "entity": {"dynamic": False, "properties": {
            **{k: _KW for k in ("security", "category", "name", "version", "contact")},
            "description": {"type": "text"},
            "features": {"dynamic": False, "properties": {k: _KW for k in ("name", "type", "desc", "tags")}},
            "config": {"type": "object", "enabled": False}}},
        "encoded": {"properties": {"is_processing_download_events": {"type": "boolean"}}}}}


def annotation_mapping() -> dict[str, Any]:
    props = {k: _KW for k in ("owner", "type", "sha256", "feature_name", "pivot", "tag", "state")}
    props.update({"feature_value": _KW_LONG, "comment": {"type": "keyword", "ignore_above": 1000},
                  "timestamp": {"type": "date"}, **_security()})
    return {"dynamic": "strict", "properties": props}


def tombstone_mapping() -> dict[str, Any]:
    """Ids of purged documents and when they were purged (``ms`` for comparisons)."""
    return {"dynamic": "strict", "properties": {"timestamp": {"type": "date"}, "ms": {"type": "long"}}}


MAPPINGS = {"binary2": binary2_mapping, "status": status_mapping, "plugin": plugin_mapping,
            "annotation": annotation_mapping, "tombstone": tombstone_mapping}


def index_settings(doc_type: str, shards: int, replicas: int) -> dict[str, Any]:
    out: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas, "refresh_interval": "5s"}
    if doc_type == "binary2":
        # writes refresh explicitly (the port promises searchable on return); 30 s elsewhere, as Azul
        out.update({"refresh_interval": "30s", "mapping.total_fields.limit": 20000, **BINARY_SORT})
    return {"index": out}


class Templates:
    """Creates and upgrades the templates of one partition, and extends ``features_map``."""

    def __init__(self, client: OpenSearch, names: IndexNames, shards: int, replicas: int) -> None:
        self.client = client
        self.names = names
        self.shards = shards
        self.replicas = replicas
        self.features: set[str] = set()

    def body(self, doc_type: str, features: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
        mapping = copy.deepcopy(MAPPINGS[doc_type]())
        mapping["_meta"] = {"template_version": TEMPLATE_VERSION}  # what made the index: it stays (``_put``)
        if doc_type == "binary2":
            for field, mapped in feature_fields(set(features)).items():
                mapping["properties"][field]["properties"] = mapped["properties"]
        return {
            "index_patterns": self.names.patterns(doc_type),
            "priority": 1,
            "version": TEMPLATE_VERSION,
            **({"_meta": {"binary_layout": self.names.binary_layout}} if doc_type == "binary2" else {}),
            "template": {"aliases": {self.names.alias(doc_type): {}},
                         "settings": index_settings(doc_type, self.shards, self.replicas), "mappings": mapping},
        }

    def _current(self, doc_type: str) -> dict[str, Any] | None:
        with translated("reading index templates"):
            if not self.client.indices.exists_index_template(name=self.names.template(doc_type)):
                return None
            found = self.client.indices.get_index_template(name=self.names.template(doc_type))
        return found["index_templates"][0]["index_template"]

    def initialise(self, force: bool = False) -> list[str]:
        """Make sure every template and base index exists; return the types whose template was (re)put.

        A template of another version is refused (ConfigError) unless ``force``: mappings can
        only grow, so an incompatible change needs a new partition and a reingest (§1.4).
        """
        changed = []
        for doc_type in DOC_TYPES:
            current = self._current(doc_type)
            known = self._known_features(current) if doc_type == "binary2" else set()
            version = (current or {}).get("version")
            if current is not None and (not isinstance(version, int) or version < UPGRADABLE_FROM):
                raise ConfigError(
                    f"index template {self.names.template(doc_type)} has version {version}, older than "
                    f"{UPGRADABLE_FROM}, whose mapping changes field types and cannot be upgraded in place; set "
                    "METASTORE_PARTITION to a new partition and reingest (bump METASTORE_INGESTOR_VERSION_SUFFIX "
                    "to replay the event log into it)")
            layout = ((current or {}).get("_meta") or {}).get("binary_layout", "hex")
            if doc_type == "binary2" and current is not None and layout != self.names.binary_layout:
                raise ConfigError(
                    f"partition {self.names.partition} keeps its binary2 documents in the {layout!r} layout, "
                    f"not {self.names.binary_layout!r}: set METASTORE_OPENSEARCH_BINARY_INDICES={layout}, or set "
                    "METASTORE_PARTITION to a new partition and reingest (documents do not move between layouts)")
            if current is not None and version != TEMPLATE_VERSION and not force:
                raise ConfigError(
                    f"index template {self.names.template(doc_type)} has version {version}, this "
                    f"metastore needs {TEMPLATE_VERSION}; run `azul-metastore force-update-templates` (adds "
                    "fields only) or set METASTORE_PARTITION to a new partition and reingest")
            settings = ((current or {}).get("template") or {}).get("settings", {}).get("index", {})
            stale = (str(settings.get("number_of_shards")) != str(self.shards)
                     or str(settings.get("number_of_replicas")) != str(self.replicas))
            if current is None or stale or force:
                self._put(doc_type, known)
                changed.append(doc_type)
            if doc_type == "binary2":
                self.features |= known
            self._ensure_base(doc_type)
        return changed

    def _put(self, doc_type: str, features: set[str]) -> None:
        body = self.body(doc_type, features)
        with translated(f"writing the {doc_type} template"):
            self.client.indices.put_index_template(name=self.names.template(doc_type), body=body)
            # what ``_source`` keeps cannot change once an index exists: existing ones keep theirs, and
            # the record of the template that made them
            mapping = {k: v for k, v in body["template"]["mappings"].items() if k not in ("_source", "_meta")}
            self.client.indices.put_mapping(index=",".join(self.names.patterns(doc_type)), body=mapping,
                                            allow_no_indices=True, ignore_unavailable=True)

    def briefless(self) -> list[str]:
        """The binary2 indices of the partition made from a template older than 20261127: no brief is
        written to them (their ``_source`` would keep it), and reads use ``_source`` (``brief.py``).

        Why two marks: ``force-update-templates`` maps ``brief`` in old indices too, so the mapping's
        fields cannot tell. What cannot change once an index exists can: templates 20261127-20261129
        excluded the brief from ``_source``, later ones record their version in the mapping's
        ``_meta``, which upgrades leave alone (``_put``)."""
        with translated("reading the binary2 mappings"):
            found = self.client.indices.get_mapping(index=",".join(self.names.patterns("binary2")),
                                                    allow_no_indices=True, ignore_unavailable=True)
        return sorted(name for name, mapping in found.items() if not _has_briefs(mapping.get("mappings") or {}))

    def _ensure_base(self, doc_type: str) -> None:
        """Aliases need an index: create the open base index (ignore 'already exists')."""
        with translated(f"creating the {doc_type} base index"):
            if not self.client.indices.exists(index=self.names.open(doc_type)):
                self.client.indices.create(index=self.names.open(doc_type), ignore=400)

    def _known_features(self, current: dict[str, Any] | None) -> set[str]:
        """Feature names mapped in the template or in any binary2 index of the partition."""
        found: set[str] = set()
        if current:
            props = current["template"]["mappings"]["properties"]
            found |= set(props.get("features_map", {}).get("properties", {}))
        with translated("reading binary2 mappings"):
            mappings = self.client.indices.get_mapping(index=",".join(self.names.patterns("binary2")),
                                                       allow_no_indices=True, ignore_unavailable=True)
        for index in mappings.values():
            props = index.get("mappings", {}).get("properties", {})
            found |= set(props.get("features_map", {}).get("properties", {}))
        return found

    def add_features(self, names: set[str]) -> None:
        """Map new ``features_map`` names in the template and in every existing binary2 index."""
        new = names - self.features
        if not new:
            return
        # remembered only once mapped: a refused name (over the field limit) is refused again
        # next time rather than taken for mapped
        known = self.features | self._known_features(self._current("binary2")) | new
        with translated("adding feature fields"):
            self.client.indices.put_mapping(
                index=",".join(self.names.patterns("binary2")), allow_no_indices=True, ignore_unavailable=True,
                body={"properties": feature_fields(new)})
            self.client.indices.put_index_template(name=self.names.template("binary2"),
                                                   body=self.body("binary2", known))
        self.features = known
        log.info("mapped %d new feature names: %s", len(new), ", ".join(sorted(new)[:20]))


def _has_briefs(mapping: dict[str, Any]) -> bool:
    """Whether an index's mapping says the template that made it wrote briefs (``Templates.briefless``)."""
    made = (mapping.get("_meta") or {}).get("template_version")
    if isinstance(made, int) and made >= _UNEXCLUDED:
        return True
    return "brief" in ((mapping.get("_source") or {}).get("excludes") or ())


#: the first template version keeping briefs in ``_source`` (and recording itself in ``_meta``)
_UNEXCLUDED = 20261130
