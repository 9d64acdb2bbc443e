"""What a long-running process does with the objects it made while starting: freeze them.

Python's full (generation 2) collection visits every tracked object, and a process of this
metastore holds tens of thousands made at start-up that live until it ends: modules, functions,
and above all pydantic's validators, whose traversal is slow. A full collection of the API process
took 50 ms with 80,000 objects alive (21 ms for importing the search models alone), and it landed
on whatever request happened to allocate when it was due: at 210,010 binaries on OpenSearch, the
eight slowest of 200 feature-value finds each took 80-113 ms of CPU, every one with a full
collection inside it, where the median took 18 ms. Frozen (``gc.freeze``), they are never scanned
again: the slowest then took 27 ms. Cycles among request objects are still collected as before.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_start_up"]


def freeze_start_up() -> None:
    """Collect what start-up left behind, then move every object alive into the permanent
    generation, which no later collection scans. Call it once everything long-lived is built."""
    gc.collect()
    gc.freeze()
