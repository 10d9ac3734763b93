"""BM25 as a sparse matrix: scores match the textbook formula, ranking and filtering work."""

import math

import numpy as np

from indexer.lexical import K1, B, BM25Index

DOCS = [
    ["高质量", "发展", "经济", "增长"],
    ["意识形态", "安全", "屏障", "意识形态"],
    ["乡村振兴", "农业", "发展"],
    ["经济", "增长", "目标", "5%", "左右"],
]


def _textbook(docs, query, i):
    n = len(docs)
    avgdl = sum(map(len, docs)) / n
    score = 0.0
    for t in set(query):
        df = sum(t in d for d in docs)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        tf = docs[i].count(t)
        score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(docs[i]) / avgdl))
    return score


def test_scores_equal_textbook_bm25():
    index = BM25Index.build(DOCS)
    query = ["经济", "增长", "意识形态", "不存在"]
    got = index.scores(query)
    want = [_textbook(DOCS, query, i) for i in range(len(DOCS))]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_search_ranks_and_skips_zero_scores():
    index = BM25Index.build(DOCS)
    rows, scores = index.search(["意识形态"], 10)
    assert rows.tolist() == [1]
    rows, scores = index.search(["经济", "目标"], 10)
    assert rows.tolist()[0] == 3 and set(rows.tolist()) == {0, 3}
    assert list(scores) == sorted(scores, reverse=True)


def test_search_respects_allowed_mask_and_n():
    index = BM25Index.build(DOCS)
    rows, _ = index.search(["发展"], 10, allowed=np.array([False, True, True, True]))
    assert rows.tolist() == [2]
    rows, _ = index.search(["发展", "经济", "增长"], 1)
    assert len(rows) == 1


def test_unknown_terms_give_nothing():
    rows, scores = BM25Index.build(DOCS).search(["完全无关"], 5)
    assert rows.size == 0 and scores.size == 0


def test_save_load_round_trip(tmp_path):
    index = BM25Index.build(DOCS)
    index.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    np.testing.assert_allclose(loaded.scores(["经济", "发展"]), index.scores(["经济", "发展"]))
    assert loaded.term_idf("经济") == index.term_idf("经济") > 0


def test_pruned_search_equals_exhaustive(monkeypatch):
    import indexer.lexical as lexical

    rng = np.random.default_rng(7)
    common = ["发展", "经济", "报告", "社会", "年"]
    rare = [f"词{i}" for i in range(300)]
    docs = [
        [t for t in common if rng.random() < 0.6] + list(rng.choice(rare, size=rng.integers(1, 8)))
        for _ in range(3000)
    ]
    index = BM25Index.build(docs)
    queries = [common[:3] + list(rng.choice(rare, size=2)) for _ in range(40)] + [common, ["发展", "词1"]]
    masks = [None, rng.random(len(docs)) < 0.4]

    def run(prune_min):
        monkeypatch.setattr(lexical, "PRUNE_MIN_POSTINGS", prune_min)
        return [index.search(q, n, allowed) for q in queries for n in (1, 10, 100) for allowed in masks]

    calls = []
    real = BM25Index._search_pruned
    monkeypatch.setattr(BM25Index, "_search_pruned", lambda self, *a: calls.append(real(self, *a)) or calls[-1])
    pruned, exhaustive = run(0), run(10**12)
    assert any(c is not None for c in calls)  # the pruned path did answer some of them
    for (rows_p, scores_p), (rows_e, scores_e) in zip(pruned, exhaustive):
        np.testing.assert_allclose(scores_p, scores_e, rtol=1e-5)
        clear = scores_e > scores_e[-1] * (1 + 1e-5)  # rows above the cut: the same on both paths
        assert set(rows_e[clear].tolist()) <= set(rows_p.tolist())
