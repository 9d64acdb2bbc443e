"""Garbage collection at batch boundaries in dedicated ingestor processes (ingest/processes.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from azul_metastore.ingest import processes
from azul_metastore.ingest.processes import BatchCollector
from tests.support.cycles import Node, cycle


@pytest.fixture
def collector_state() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if was_enabled:
        gc.enable()


def test_takes_over_the_collector_and_frees_cycles_between_batches(collector_state: None) -> None:
    collect = BatchCollector()
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0
    ref = cycle()
    assert ref() is not None  # nothing collects it mid-batch any more
    collect()
    assert ref() is None


def test_a_full_collection_comes_round_on_its_period(collector_state: None, monkeypatch) -> None:
    collect = BatchCollector()
    a, b = Node(), Node()
    a.other, b.other = b, a
    survivor = weakref.ref(a)
    collect()  # still referenced: survives into the oldest generation
    del a, b
    collect()  # a young collection no longer looks at it
    assert survivor() is not None
    monkeypatch.setattr(processes, "FULL_COLLECTION_EVERY", 0.0)
    collect()
    assert survivor() is None
