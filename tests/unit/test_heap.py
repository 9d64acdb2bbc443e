"""Freezing what start-up made (azul_metastore/heap.py): full collections stop scanning it, and
garbage made afterwards is still collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from azul_metastore.heap import freeze_start_up
from tests.support.cycles import Node, cycle


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_start_up_objects_leave_the_collected_generations_and_new_cycles_are_still_freed(thawed: None) -> None:
    long_lived = Node()
    freeze_start_up()
    assert gc.get_freeze_count() > 0
    assert not any(obj is long_lived for obj in gc.get_objects())  # no collection scans it any more
    ref = cycle()
    gc.collect()
    assert ref() is None
