"""The side-by-side query benchmark takes turns fairly: each backend makes every query once, in
blocks, and the backend going first alternates from block to block."""

from bench._report import percentile
from bench.query_side_by_side import ratio_interval, side_by_side


def test_backends_take_turns_in_blocks_and_make_the_same_queries() -> None:
    calls: list[tuple[str, int]] = []
    fns = {name: (lambda i, name=name: calls.append((name, i))) for name in ("embedded", "opensearch")}

    times = side_by_side(fns, count=5, block=2)

    assert calls == [("embedded", 0), ("embedded", 1), ("opensearch", 0), ("opensearch", 1),
                     ("opensearch", 2), ("opensearch", 3), ("embedded", 2), ("embedded", 3),
                     ("embedded", 4), ("opensearch", 4)]
    assert {name: len(t) for name, t in times.items()} == {"embedded": 5, "opensearch": 5}
    assert all(ms >= 0 for t in times.values() for ms in t)


def test_ratio_interval_brackets_the_ratio_and_narrows_with_more_queries() -> None:
    # OpenSearch exactly twice as slow on every query: every resample gives 2
    emb = [float(1 + i % 50) for i in range(200)]
    assert ratio_interval({"embedded": emb, "opensearch": [2 * t for t in emb]}) == (2.0, 2.0)

    # a slow tail on one backend only: the interval holds the measured ratio, and more queries of
    # the same spread give a narrower one
    def times(count: int) -> dict[str, list[float]]:
        emb = [10.0 + (i % 97) / 10 for i in range(count)]
        ose = [20.0 + (i % 89) / 5 + (60.0 if i % 40 == 0 else 0.0) for i in range(count)]
        return {"embedded": emb, "opensearch": ose}

    few, many = times(200), times(1000)
    measured = percentile(few["opensearch"], 99) / percentile(few["embedded"], 99)
    low, high = ratio_interval(few)
    assert low <= measured <= high and low < high
    low_many, high_many = ratio_interval(many)
    assert high_many - low_many < high - low
