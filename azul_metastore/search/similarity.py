"""Similar binaries (inventory §6.7): by TLSH, ssdeep, entropy graph and shared feature values.

Deliberate differences from Azul: TLSH answers carry the real TLSH distance (``tlsh.diff``; lower
is closer, 0 = identical hash) and are sorted nearest first, where Azul gave a k-NN cosine score;
ssdeep look-ups work (Azul queried a field that does not exist, §11 item 22). Feature similarity
is computed when asked and answered ``complete`` at once: azul-client and the UI poll until the
status says so, so an immediate complete answer is what they wait for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from azul_metastore.content import fuzzy
from azul_metastore.errors import InvalidInput, NotFound
from azul_metastore.index.port import MetadataStore
from azul_metastore.index.tlsh import parse_tlsh
from azul_metastore.index.vectors import ENTROPY_VECTOR_BYTES, entropy_vector
from azul_metastore.search.models import (
    SimilarEntropyMatch,
    SimilarEntropyMatchRow,
    SimilarFeatureMatch,
    SimilarFeatureMatchRow,
    SimilarFuzzyMatch,
    SimilarFuzzyMatchRow,
)
from azul_metastore.security import Access

__all__ = ["similar_entropy", "similar_features", "similar_ssdeep", "similar_tlsh"]

#: ssdeep candidates scored per request
SSDEEP_CANDIDATES = 10_000
#: entropy matches below this similarity (percent of equal bits) are not shown (as Azul)
ENTROPY_MIN_PERCENT = 90.0
#: a plugin's feature set is compared only when it has more values than this (as Azul)
FEATURE_MIN_VALUES = 4
#: shared values a candidate needs with one plugin's set (more_like_this's minimum_should_match)
FEATURE_MIN_SHARED = 4
FEATURE_MATCHES = 20
ENTROPY_BITS = ENTROPY_VECTOR_BYTES * 8


def similar_tlsh(index: MetadataStore, tlsh: str, access: Access, max_matches: int = 20) -> SimilarFuzzyMatch:
    """The nearest visible binaries by TLSH distance (InvalidInput, 422, for a bad hash)."""
    parse_tlsh(tlsh)
    found = index.similar_tlsh(tlsh, access, max_matches)
    return SimilarFuzzyMatch(matches=[SimilarFuzzyMatchRow(sha256=s, score=d) for s, d in found])


def similar_ssdeep(index: MetadataStore, ssdeep: str, access: Access, max_matches: int = 20) -> SimilarFuzzyMatch:
    """The visible binaries with the highest libfuzzy score (0-100) against ``ssdeep``."""
    parts = ssdeep.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1]:
        raise InvalidInput(f"ssdeep {ssdeep!r} is not '<blocksize>:<chunk>:<double chunk>'", ssdeep=ssdeep)
    scored = []
    for sha, other in index.ssdeep_candidates(ssdeep, access, SSDEEP_CANDIDATES):
        try:
            score = fuzzy.compare(ssdeep, other)
        except InvalidInput:
            continue
        if score > 0:
            scored.append((score, sha))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return SimilarFuzzyMatch(matches=[SimilarFuzzyMatchRow(sha256=s, score=n) for n, s in scored[:max_matches]])


def similar_entropy(index: MetadataStore, sha256: str, blocks: Sequence[float], access: Access,
                    max_matches: int = 20) -> SimilarEntropyMatch:
    """Visible binaries whose entropy graph matches ``blocks`` on at least 90 % of the encoded bits."""
    vector = entropy_vector(list(blocks))
    if vector is None:
        return SimilarEntropyMatch(matches=[])
    rows = []
    for sha, bits in index.similar_entropy(vector, access, max_matches + 10, exclude=sha256.lower()):
        percent = round(100.0 * (ENTROPY_BITS - bits) / ENTROPY_BITS, 4)
        if percent >= ENTROPY_MIN_PERCENT:
            rows.append(SimilarEntropyMatchRow(sha256=sha, score=percent))
    return SimilarEntropyMatch(matches=rows[:max_matches])


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def similar_features(index: MetadataStore, sha256: str, access: Access) -> SimilarFeatureMatch:
    """Visible binaries sharing the most feature values with this one, plugin by plugin.

    For each plugin whose result on the focus has more than four values, candidates share at least
    four of them on that plugin's results; a candidate's score is the sum over plugins of the most
    values shared, and its percentage that sum over the focus's distinct values. NotFound when the
    caller can see nothing of the binary.
    """
    focus = sha256.lower()
    docs = index.documents([focus], access)
    if not docs:
        raise NotFound(f"no binary {sha256} that you may see", sha256=sha256)
    per_author: dict[str, set[tuple[str, str]]] = defaultdict(set)
    everything: set[tuple[str, str]] = set()
    seen_sets: set[str] = set()
    for doc in docs:
        fmap = doc.get("features_map") or {}
        pairs = {(name, str(v)) for name, values in fmap.items() for v in values}
        everything |= pairs
        key = doc.get("uniq_features")
        if len(pairs) <= FEATURE_MIN_VALUES or key in seen_sets:
            continue
        seen_sets.add(key or "")
        per_author[(doc.get("author") or {}).get("name") or ""] |= pairs
    scores: dict[str, dict[str, int]] = defaultdict(dict)
    for author, pairs in sorted(per_author.items()):
        found = index.feature_overlaps(sorted(pairs), access, author_name=author or None, exclude=focus,
                                       min_count=FEATURE_MIN_SHARED)
        for sha, shared in found.items():
            scores[sha][author] = max(shared, scores[sha].get(author, 0))
    total = len(everything) or 1
    rows = []
    for sha, by_author in scores.items():
        score_sum = sum(by_author.values())
        percent = int(score_sum * 100 / total)
        if score_sum > 1 or percent > 1:
            contributions: list[list[str | int]] = [[a, n] for a, n in sorted(by_author.items(),
                                                                              key=lambda kv: (-kv[1], kv[0]))]
            rows.append(SimilarFeatureMatchRow(sha256=sha, score_sum=score_sum, score_percent=percent,
                                               contributions=contributions))
    rows.sort(key=lambda r: (-r.score_sum, r.sha256))
    return SimilarFeatureMatch(num_feature_values=len(everything), matches=rows[:FEATURE_MATCHES], timestamp=_now(),
                               status="complete")
