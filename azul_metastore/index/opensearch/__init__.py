"""The scale-out metadata index: OpenSearch 2.19 through opensearch-py (see ``store.py``)."""

from azul_metastore.index.opensearch.store import OpenSearchMetadataStore

__all__ = ["OpenSearchMetadataStore"]
