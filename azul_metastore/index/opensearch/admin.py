"""Operator tasks on the OpenSearch cluster, called by the CLI (``force-update-templates``,
``apply-opensearch-config``); each takes settings and returns what it did, the CLI prints it."""

from __future__ import annotations

from opensearchpy import OpenSearch

from azul_metastore.index.opensearch import roles
from azul_metastore.index.opensearch.client import client_from_settings, translated
from azul_metastore.index.opensearch.templates import IndexNames, Templates
from azul_metastore.security import SecurityPolicy
from azul_metastore.settings import Settings


def force_update_templates(settings: Settings, client: OpenSearch | None = None) -> list[str]:
    """Put every template of the partition and its mapping on the existing indices (§1.4).

    Mappings can only grow: a changed field type is refused by OpenSearch (BadRequest); then set a
    new ``partition`` and reingest. Returns the document types whose template was written.
    """
    client = client or client_from_settings(settings)
    names = IndexNames(settings.partition, settings.opensearch_binary_indices)
    templates = Templates(client, names, settings.opensearch_shards, settings.opensearch_replicas)
    return templates.initialise(force=True)


def apply_opensearch_config(settings: Settings, client: OpenSearch, mappings: bool) -> list[roles.Outcome]:
    """Create the security roles (and, with ``mappings``, role mappings) that are missing (§1.5)."""
    with translated("applying the security configuration"):
        return roles.apply(client, SecurityPolicy.from_settings(settings), mappings)


def print_opensearch_config(settings: Settings, mappings: bool) -> str:
    return roles.render(SecurityPolicy.from_settings(settings), mappings)
