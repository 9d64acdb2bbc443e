"""The side-by-side query benchmark takes turns fairly: each backend makes every query once, in
blocks, and the backend going first alternates from block to block."""

from bench.query_side_by_side import side_by_side


def test_backends_take_turns_in_blocks_and_make_the_same_queries() -> None:
    calls: list[tuple[str, int]] = []
    fns = {name: (lambda i, name=name: calls.append((name, i))) for name in ("embedded", "opensearch")}

    times = side_by_side(fns, count=5, block=2)

    assert calls == [("embedded", 0), ("embedded", 1), ("opensearch", 0), ("opensearch", 1),
                     ("opensearch", 2), ("opensearch", 3), ("embedded", 2), ("embedded", 3),
                     ("embedded", 4), ("opensearch", 4)]
    assert {name: len(t) for name, t in times.items()} == {"embedded": 5, "opensearch": 5}
    assert all(ms >= 0 for t in times.values() for ms in t)
