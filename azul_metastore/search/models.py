"""Response models of the binaries read API (``/api/v0/binaries...``), field for field as
azul-bedrock's ``models_restapi.binaries`` declares them (inventory §2.11).

azul-client validates these with ``extra="forbid"``: one field too many breaks it, so these forbid
extras too, and ``tests/compat/test_client_binaries.py`` pins each against bedrock's. They are our
own models: the metastore does not depend on azul-bedrock at run time. Where bedrock constrains a
value with an enum (actions, feature types, stream labels) we keep plain text: we only ever echo
values that passed those enums at intake.
"""

from __future__ import annotations

from typing import Any, Literal

from azul_metastore.search.models_features import Coerced, FeatureValueTag, StatusEvent, Strict

__all__ = [
    "BinaryDiagnostic",
    "BinaryDocuments",
    "BinaryFeatureValue",
    "BinaryInfo",
    "BinaryMetadata",
    "BinarySource",
    "DatastreamInstances",
    "EntityFind",
    "EntityFindItem",
    "EntityFindItemSource",
    "EntityFindSimple",
    "EntityFindSimpleFamily",
    "EntityFindSimpleFamilyItem",
    "EntityFindSimpleItem",
    "EntityInstance",
    "EntityInstanceAuthor",
    "EntityModel",
    "EntityTag",
    "EventSource",
    "FeatureValuePart",
    "NodeAuthor",
    "OpensearchDocuments",
    "PathNode",
    "ReadAllEntityTags",
    "ReadNearby",
    "ReadNearbyLink",
    "ReadTags",
    "ReadTagsTag",
    "SimilarEntropyMatch",
    "SimilarEntropyMatchRow",
    "SimilarFeatureMatch",
    "SimilarFeatureMatchRow",
    "SimilarFuzzyMatch",
    "SimilarFuzzyMatchRow",
    "Status",
    "StatusEvent",
]


class ReadTagsTag(Strict):
    tag: str
    num_entities: int
    num_entities_approx: bool


class ReadTags(Strict):
    tags: list[ReadTagsTag]
    num_tags: int
    num_tags_approx: bool


class EntityFindItemSource(Strict):
    depth: int
    name: str
    timestamp: str
    references: dict[str, Any]


class EntityTag(Strict):
    sha256: str
    tag: str
    type: str
    owner: str | None = None
    timestamp: str
    security: str
    num_entities: int | None = None


class EntityFindItem(Strict):
    key: str
    exists: bool
    has_content: bool
    is_duplicate_find: bool | None = None
    sources: list[EntityFindItemSource] | None = None
    file_size: int | None = None
    file_format: str | None = None
    file_extension: str | None = None
    magic: str | None = None
    mime: str | None = None
    filenames: list[str] | None = None
    highlight: dict[str, list[str]] | None = None
    tags: list[EntityTag] | None = None
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    sha512: str | None = None
    ssdeep: str | None = None
    tlsh: str | None = None


class EntityFind(Strict):
    items_count: int = 0
    items: list[EntityFindItem]


class EntityFindSimpleItem(Strict):
    sha256: str | None = None


class EntityFindSimpleFamilyItem(Strict):
    sha256: str | None = None
    track_link: str | None = None
    author_name: str | None = None
    author_category: str | None = None
    timestamp: str | None = None


class EntityFindSimple(Strict):
    items: list[EntityFindSimpleItem]
    after: str | None = None
    total: int | None = None


class EntityFindSimpleFamily(Strict):
    items: list[EntityFindSimpleFamilyItem]
    after: str | None = None
    total: int | None = None


class EntityModel(Strict):
    keys: dict[str, str]


class BinaryDocuments(Strict):
    count: int
    newest: str | None = None


class EventSource(Strict):
    security: str | None = None
    name: str
    timestamp: str | None = None
    references: dict[str, Any] = {}
    settings: dict[str, str] = {}
    track_source_references: str | None = None


class BinarySource(Strict):
    source: str
    direct: list[EventSource] = []
    indirect: list[EventSource] = []


class EntityInstanceAuthor(Strict):
    security: str | None = None
    category: str
    name: str
    version: str | None = None


class NodeAuthor(Strict):
    """bedrock's network ``Author`` (the author of a path node)."""

    category: str | None = None
    name: str
    version: str | None = None
    security: str | None = None


class PathNode(Strict):
    sha256: str
    action: str
    timestamp: str
    author: NodeAuthor
    relationship: dict[str, Any] | None = None
    file_format: str | None = None
    size: int | None = None
    filename: str | None = None
    language: str | None = None
    track_link: str | None = None


class EntityInstance(Strict):
    key: str
    author: EntityInstanceAuthor
    action: str
    stream: str | None = None
    num_feature_values: int


class DatastreamInstances(Strict):
    sha256: str | None = None
    sha512: str | None = None
    sha1: str | None = None
    md5: str | None = None
    ssdeep: str | None = None
    tlsh: str | None = None
    size: int | None = None
    file_format: str | None = None
    file_extension: str | None = None
    mime: str | None = None
    magic: str | None = None
    identify_version: int = 0
    label: list[str]
    language: str | None = None
    instances: list[str]


class FeatureValuePart(Coerced):
    location: list[list[int]] | None = None
    integer: str | None = None
    float: str | None = None
    datetime: str | None = None
    binary_string: str | None = None
    scheme: str | None = None
    netloc: str | None = None
    filepath: str | None = None
    params: str | None = None
    query: str | None = None
    fragment: str | None = None
    username: str | None = None
    password: str | None = None
    hostname: str | None = None
    ip: str | None = None
    port: int | None = None
    filepath_unix: list[str] | None = None
    filepath_unixr: list[str] | None = None


class BinaryFeatureValue(Coerced):
    name: str
    type: str
    value: str
    label: list[str] = []
    offset: int | None = None
    size: int | None = None
    parts: FeatureValuePart | None = None
    instances: list[str]
    location: list[list[int]] = []
    tags: list[FeatureValueTag] = []


class BinaryInfo(Strict):
    info: dict[str, Any]
    instance: str


class BinaryDiagnostic(Strict):
    severity: Literal["info", "warning", "error"]
    id: str
    title: str
    body: str


class BinaryMetadata(Strict):
    documents: BinaryDocuments
    security: list[str] = []
    sources: list[BinarySource] = []
    parents: list[PathNode] = []
    children: list[PathNode] = []
    instances: list[EntityInstance] = []
    features: list[BinaryFeatureValue] = []
    streams: list[DatastreamInstances] = []
    info: list[BinaryInfo] = []
    diagnostics: list[BinaryDiagnostic] = []
    tags: list[EntityTag] = []


class SimilarFuzzyMatchRow(Strict):
    sha256: str
    score: int | float


class SimilarFuzzyMatch(Strict):
    matches: list[SimilarFuzzyMatchRow]


class SimilarEntropyMatchRow(Strict):
    sha256: str
    score: int | float


class SimilarEntropyMatch(Strict):
    matches: list[SimilarEntropyMatchRow]


class SimilarFeatureMatchRow(Strict):
    sha256: str
    score_sum: int
    score_percent: int = 0
    contributions: list[list[str | int]]


class SimilarFeatureMatch(Strict):
    num_feature_values: int
    matches: list[SimilarFeatureMatchRow]
    timestamp: str
    status: str


class ReadNearbyLink(Strict):
    id: str
    child: str
    parent: str | None = None
    child_node: PathNode
    source: EventSource | None = None


class ReadNearby(Strict):
    id_focus: str
    links: list[ReadNearbyLink]


class ReadAllEntityTags(Strict):
    items: list[EntityTag]


class Status(Strict):
    items: list[StatusEvent]


class OpensearchDocuments(Strict):
    items: list[dict[str, Any]]
    total_docs: int

