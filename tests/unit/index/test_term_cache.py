"""The embedded index's per-process memory of tokens and listed values (index/sqlite/terms.py)."""

from __future__ import annotations

from azul_metastore.index.sqlite.terms import MAX_VALUE_CHARS, TermCache, token, tokens_and_values


def _doc(security: str = "OFFICIAL", **features: list[str]) -> dict:
    return {"security": security, "features_map": features}


def test_tokens_match_the_uncached_tokens() -> None:
    doc = _doc(host=["Example.COM", "a.b"], port=["80"])
    text, _ = TermCache().prepare(doc)
    expected, _ = tokens_and_values(doc)
    assert set(text.split()) == set(expected.split())
    assert token("features_map.host", "example.com") in text.split()


def test_values_stay_unlisted_until_their_commit_is_reported() -> None:
    cache = TermCache()
    doc = _doc(host=["example.com"])
    _, first = cache.prepare(doc)
    assert ("features_map.host", "example.com") in first
    # the batch that would have inserted them rolled back: the retry must insert them again
    _, retry = cache.prepare(doc)
    assert retry == first
    cache.listed("OFFICIAL", retry)
    _, after = cache.prepare(doc)
    assert after == set()


def test_listing_is_per_security() -> None:
    cache = TermCache()
    _, pairs = cache.prepare(_doc("OFFICIAL", host=["example.com"]))
    cache.listed("OFFICIAL", pairs)
    _, other = cache.prepare(_doc("SECRET", host=["example.com"]))
    assert other == pairs
    cache.listed("SECRET", other)
    assert cache.prepare(_doc("SECRET", host=["example.com"]))[1] == set()
    assert cache.prepare(_doc("OFFICIAL", host=["example.com"]))[1] == set()


def test_over_long_values_are_neither_tokenised_nor_listed() -> None:
    text, pairs = TermCache().prepare(_doc(blob=["x" * (MAX_VALUE_CHARS + 1)]))
    assert pairs == {("features.name", "blob")}
    assert text.split() == [token("features.name", "blob")]


def test_a_full_cache_forgets_and_lists_again() -> None:
    cache = TermCache(limit=3)
    _, pairs = cache.prepare(_doc(a=["1", "2"]))
    cache.listed("OFFICIAL", pairs)
    cache.prepare(_doc(b=["3"]))  # over the limit: cleared before this document
    _, again = cache.prepare(_doc(a=["1", "2"]))
    assert again == pairs


def test_securities_beyond_the_bit_budget_are_never_cached_as_listed() -> None:
    cache = TermCache()
    for i in range(70):
        _, pairs = cache.prepare(_doc(f"S{i}", host=["x"]))
        cache.listed(f"S{i}", pairs)
    assert cache.prepare(_doc("S5", host=["x"]))[1] == set()
    assert cache.prepare(_doc("S65", host=["x"]))[1] == {("features_map.host", "x"), ("features.name", "host")}


def test_the_length_limit_counts_utf16_units_as_opensearch_does() -> None:
    """An emoji is one character but two UTF-16 units; OpenSearch's ignore_above counts units."""
    emoji = "\U0001f600"
    for doc, kept in ((_doc(e=[emoji * (MAX_VALUE_CHARS // 2)]), True), (_doc(e=[emoji * (MAX_VALUE_CHARS // 2 + 1)]),
                                                                         False)):
        _, pairs = TermCache().prepare(doc)
        assert (("features_map.e", doc["features_map"]["e"][0]) in pairs) is kept
        assert tokens_and_values(doc)[1] == pairs
