"""Reference cycles for tests of garbage collection: only the cyclic collector can free them."""

from __future__ import annotations

import weakref


class Node:
    """One end of a two-object cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref:
    """A fresh two-object cycle nothing else refers to; the weak reference dies when it is freed."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)
