"""Fixtures of the MetadataStore behaviour suite: one store per adapter, empty or loaded.

Import them into a test module (``from tests.support.index_stores import store, loaded, dataset``).
The OpenSearch adapter gets a fresh partition per store (``azul.<partition>.*``), so tests never see
each other's documents; its indices and templates are deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from azul_metastore.index.documents import Document
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.sqlite import SqliteMetadataStore
from tests.support.index_data import Dataset
from tests.support.partitions import drop_partition

ENFORCED = frozenset({"s-tlp-amber-strict"})
OPEN = frozenset({"s-low"})


def _sqlite(request: pytest.FixtureRequest, folder: Path) -> MetadataStore:
    return SqliteMetadataStore(folder / f"index-{uuid.uuid4().hex[:8]}.sqlite3", cache_mb=64)


def _opensearch(request: pytest.FixtureRequest, folder: Path,
                binary_layout: Literal["hex", "single"] = "hex", shards: int = 1) -> MetadataStore:
    from azul_metastore.index.opensearch import OpenSearchMetadataStore
    from azul_metastore.index.opensearch.client import new_client

    url = request.getfixturevalue("opensearch_url")
    partition = f"t{uuid.uuid4().hex[:12]}"
    client = new_client(url)

    request.addfinalizer(lambda: drop_partition(url, partition))
    return OpenSearchMetadataStore(client, partition, open_labels=OPEN, enforced=ENFORCED,
                                   binary_layout=binary_layout, shards=shards)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], MetadataStore]] = {
    "sqlite": _sqlite, "opensearch": _opensearch,
    # three shards: a read that searches the wrong shards (routing) or counts per shard shows here
    "opensearch-single": lambda request, folder: _opensearch(request, folder, "single", shards=3)}
PARAMS = ["sqlite", pytest.param("opensearch", marks=pytest.mark.opensearch),
          pytest.param("opensearch-single", marks=pytest.mark.opensearch)]


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return Dataset()


class Refreshing:
    """The store under test, refreshed after every write (the real adapter: every other call goes
    straight to it; ``inner`` is the adapter itself).

    The port makes a write searchable only from the next refresh; the write-then-read tests check
    what a write stores, so they read after a refresh, as an API caller does, and the rule lives
    here once instead of after every write. Tests of the unrefreshed state use ``inner``.
    """

    def __init__(self, inner: MetadataStore) -> None:
        self.inner = inner

    def write(self, documents: Sequence[Document]) -> None:
        self.inner.write(documents)
        self.inner.refresh()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(params=PARAMS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetadataStore]:
    """An empty store of each adapter, for tests that write or delete; writes are refreshed
    (:class:`Refreshing`)."""
    built = ADAPTERS[request.param](request, tmp_path)
    yield Refreshing(built)  # type: ignore[misc]
    built.close()


@pytest.fixture(scope="module", params=PARAMS)
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           dataset: Dataset) -> Iterator[MetadataStore]:
    """A store of each adapter holding every document of the dataset; read-only tests share it."""
    built = ADAPTERS[request.param](request, tmp_path_factory.mktemp("index"))
    built.write(dataset.documents)
    built.refresh()
    yield built
    built.close()
