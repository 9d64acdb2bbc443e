"""Removing a test's OpenSearch partition: its indices (open and shut) and its index templates."""

from __future__ import annotations


def drop_partition(opensearch_url: str, partition: str) -> None:
    from azul_metastore.index.opensearch.client import new_client

    admin = new_client(opensearch_url)
    try:
        admin.indices.delete(index=f"azul.o.{partition}.*,azul.x.{partition}.*", ignore_unavailable=True,
                             allow_no_indices=True, expand_wildcards="all")
        for template in admin.indices.get_index_template(name=f"azul.{partition}.*", ignore=404).get(
                "index_templates", []):
            admin.indices.delete_index_template(name=template["name"])
    finally:
        admin.close()
