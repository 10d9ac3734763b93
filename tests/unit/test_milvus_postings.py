"""The in-process BM25 of a Milvus reader grown generation by generation (TermCounts parts joined with
join_postings, rows of deleted documents dropped, parts merged past MAX_POSTING_PARTS) scores exactly like a BM25
built at once from the live rows' tokens."""

from __future__ import annotations

import numpy as np

from indexer.lexical import BM25Index
from indexer.store.milvus_postings import MAX_POSTING_PARTS, TermCounts, join_postings


def token_rows(rng, n: int) -> list[list[str]]:
    words = [f"w{i}" for i in range(60)]
    return [[words[i] for i in rng.integers(0, 60 if r % 5 else 12, size=rng.integers(0, 30))] for r in range(n)]


def counted(rows: list[list[str]]):
    counts = TermCounts()
    for tokens in rows:
        counts.add(" ".join(tokens))
    return counts.part()


def test_parts_joined_over_generations_score_like_one_build():
    rng = np.random.default_rng(1)
    live = token_rows(rng, 40)
    parts = join_postings([], None, counted(live))
    sizes = []
    for _ in range(MAX_POSTING_PARTS + 3):  # past the limit: the parts are merged into one
        keep = rng.random(len(live)) > 0.1  # the rows of deleted documents go
        new = token_rows(rng, int(rng.integers(0, 15)))  # some generations only remove
        live = [t for t, k in zip(live, keep) if k] + new
        parts = join_postings(parts, keep, counted(new))
        assert sum(tf.shape[0] for tf, _ in parts) == len(live) and len(parts) <= MAX_POSTING_PARTS
        sizes.append(len(parts))
        grown, fresh = BM25Index.from_postings(parts), BM25Index.build(live)
        for q in (["w0"], ["w3", "w40"], ["w59", "w1", "w7"], ["nope"]):
            np.testing.assert_array_equal(grown.scores(q), fresh.scores(q))
            assert grown.term_idf(q[0]) == fresh.term_idf(q[0])
    assert max(sizes) > 1 and 1 in sizes[sizes.index(max(sizes)):]  # parts grew, then were merged into one


def test_empty_token_strings_and_an_empty_start():
    tf, terms = counted([[], ["a", "a", "b"], []])
    assert tf.shape[0] == 3 and terms == ["a", "b"] and tf[1].toarray().ravel().tolist() == [2.0, 1.0]
    parts = join_postings([], None, counted([]))
    assert BM25Index.from_postings(parts).n_rows == 0
