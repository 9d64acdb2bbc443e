"""Response and request models of the feature, plugin, source, statistics and content-view
endpoints, field for field as azul-bedrock's ``models_restapi`` declares them.

azul-client validates most of these with ``extra="forbid"``: one field too many breaks it, so these
models forbid extras too (a test pins each against the bedrock model). They are our own models, not
imports: the metastore does not depend on azul-bedrock at run time.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Azul's ``BaseModelStrict``: unknown fields are an error in both directions."""

    model_config = ConfigDict(extra="forbid")


class Coerced(Strict):
    # feature values arrive as numbers from some clients; Azul coerces them to text
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


# --- features --------------------------------------------------------------------------------------


class FeatureMulticountRet(Strict):
    name: str
    values: int | None = None
    entities: int | None = None


class ValueCountItem(Coerced):
    name: str
    value: str


class ValueCountRet(ValueCountItem):
    entities: int


class ValuePartCountItem(Coerced):
    value: str
    part: str


class ValuePartCountRet(ValuePartCountItem):
    entities: int


class ReadFeatureValueTagsTag(Strict):
    tag: str
    num_feature_values: int


class ReadFeatureValueTags(Strict):
    tags: list[ReadFeatureValueTagsTag]
    num_tags: int


class FeatureValueTag(Coerced):
    feature_name: str
    feature_value: str
    tag: str
    type: str
    owner: str | None = None
    timestamp: str
    security: str


class ReadFeatureTagValues(Strict):
    items: list[FeatureValueTag]


class FeatureDescription(Strict):
    author_type: str | None = None
    author_name: str | None = None
    author_version: str | None = None
    timestamp: str | None = None
    desc: str | None = None
    type: str | None = None


class Feature(Strict):
    name: str
    descriptions: list[FeatureDescription] | None = None
    tags: list[str] | None = None
    security: list[str] | None = None


class Features(Strict):
    items: list[Feature]


class ReadFeatureValuesValue(Coerced):
    name: str
    value: str
    tags: list[FeatureValueTag] = []
    newest_processed: str
    score: int = 0


class ReadFeatureValues(Strict):
    name: str
    type: str | None = None
    values: list[ReadFeatureValuesValue]
    is_search_complete: bool = False
    after: str | None = None
    is_total_approx: bool = False
    total: int | None = None


class FeaturePivotRequest(Coerced):
    feature_name: str
    feature_value: str


class FeaturePivotValueCount(Coerced):
    feature_value: str
    entity_count: str


class FeaturePivotNameWithValueCount(Strict):
    feature_name: str
    feature_description: str
    values_and_counts: list[FeaturePivotValueCount]


class FeaturePivotResponse(Strict):
    feature_value_counts: list[FeaturePivotNameWithValueCount] = []
    incomplete_query: bool = False
    reason: str = ""


# --- request bodies --------------------------------------------------------------------------------


class FeatureNames(BaseModel):
    items: list[str]


class FeatureValueItems(BaseModel):
    items: list[ValueCountItem]


class FeaturePartItems(BaseModel):
    items: list[ValuePartCountItem]


class PageAfter(BaseModel):
    """``{"after": ...}``: azul-client sends ``""`` on the first page, the UI ``null``."""

    after: str | None = None


class PivotBody(BaseModel):
    feature_values: list[FeaturePivotRequest]


# --- plugins ---------------------------------------------------------------------------------------


class Author(Strict):
    security: str | None = None
    category: str
    name: str
    version: str | None = None
    stream: str | None = None


class PluginFeature(Strict):
    name: str
    desc: str | None = None
    tags: list[str] | None = None
    type: str | None = None


class PluginEntity(Strict):
    category: str
    name: str
    version: str | None = None
    contact: str | None = None
    last_completion: str | None = None
    stats: dict[str, Any] | None = None
    description: str | None = None
    features: list[PluginFeature] | None = None
    config: dict[str, Any] | None = None
    security: str


class LatestPluginWithVersions(Strict):
    versions: list[str] = []
    newest_version: PluginEntity | None = None


class PluginStatusSummary(LatestPluginWithVersions):
    last_completion: str | None = None
    success_count: int = 0
    error_count: int = 0


class StatusInputEntity(Strict):
    sha256: str


class StatusInput(Strict):
    entity: StatusInputEntity


class StatusEntity(Strict):
    status: str
    error: str | None = None
    message: str | None = None
    runtime: float | None = None
    input: StatusInput


class StatusEvent(Strict):
    timestamp: str
    author: Author
    entity: StatusEntity
    completed: int = 0
    security: str


class StatusGroup(Strict):
    status: str
    num_items: int
    items: list[StatusEvent]


class PluginInfo(Strict):
    num_entities: int
    plugin: PluginEntity
    status: list[StatusGroup]


# --- sources and statistics ------------------------------------------------------------------------


class SourceInfo(Strict):
    """Azul's ``models_restapi.Source`` (named apart from the settings model of the same name)."""

    name: str
    newest: str | None = None
    num_entities: int


class ReferenceSet(Strict):
    track_source_references: str
    timestamp: str
    num_entities: int
    num_entities_min: bool
    values: dict[str, str]


class References(Strict):
    items: list[ReferenceSet]


class ReferenceSetGrouped(Strict):
    track_source_references_grouped: str
    timestamp: str
    num_entities: int
    num_entities_min: bool
    values: dict[str, str]


class GroupedReferences(Strict):
    items: list[ReferenceSetGrouped]


class StatisticSummary(Strict):
    binary_count: int


# --- content views ---------------------------------------------------------------------------------


class SearchResult(Strict):
    string: str
    offset: int
    length: int
    encoding: str  # "ASCII", "UTF-16" or "hex" (bedrock's SearchResultType)


class BinaryStrings(Strict):
    strings: list[SearchResult]
    has_more: bool
    next_offset: int
    time_out: bool = False


class CommonBinaryStrings(Strict):
    strings: list[str]
    incomplete: bool


class BinaryHexHeader(Strict):
    address: str
    hex: list[str] | str
    ascii: str


class BinaryHexValue(Strict):
    address: int
    hex: list[str] | str
    ascii: str


class BinaryHexView(Strict):
    hex_strings: list[BinaryHexValue]
    header: BinaryHexHeader
    has_more: bool
    next_offset: int
    content_length: int
