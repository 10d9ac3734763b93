"""Hand-computed cases for the ranking metrics."""

from __future__ import annotations

import math

import pytest

from indexer.tools.eval.metrics import (
    dcg_at_k,
    first_relevant_rank,
    group_mean,
    ideal_dcg,
    mean_metrics,
    ndcg_at_k,
    query_metrics,
    recall_at_k,
    reciprocal_rank,
)

T, F = True, False


def test_recall_is_success_at_k() -> None:
    rels = [F, F, T, F, T]
    assert recall_at_k(rels, 1) == 0.0
    assert recall_at_k(rels, 2) == 0.0
    assert recall_at_k(rels, 3) == 1.0
    assert recall_at_k(rels, 10) == 1.0  # shorter list than k is fine
    assert recall_at_k([], 5) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank([T, F]) == 1.0
    assert reciprocal_rank([F, F, T, T]) == pytest.approx(1 / 3)
    assert reciprocal_rank([F] * 10 + [T], k=10) == 0.0  # rank 11 is outside MRR@10
    assert reciprocal_rank([F] * 9 + [T], k=10) == pytest.approx(0.1)
    assert first_relevant_rank([F, F, T]) == 3
    assert first_relevant_rank([F, F]) is None


def test_dcg_hand_computed() -> None:
    # hits at ranks 1 and 3: 1/log2(2) + 1/log2(4) = 1 + 0.5
    assert dcg_at_k([T, F, T], 10) == pytest.approx(1.5)
    assert dcg_at_k([T, F, T], 2) == pytest.approx(1.0)
    # ideal for 2 relevant: 1 + 1/log2(3)
    assert ideal_dcg(2, 10) == pytest.approx(1 + 1 / math.log2(3))
    assert ideal_dcg(5, 2) == pytest.approx(1 + 1 / math.log2(3))  # capped at k
    assert ideal_dcg(0, 10) == 0.0


def test_ndcg_single_relevant() -> None:
    assert ndcg_at_k([T], 10, n_relevant=1) == 1.0
    assert ndcg_at_k([F, T], 10, n_relevant=1) == pytest.approx(1 / math.log2(3))  # 0.6309
    assert ndcg_at_k([F, F, F, T], 10, n_relevant=1) == pytest.approx(1 / math.log2(5))  # 0.4307
    assert ndcg_at_k([F] * 10, 10, n_relevant=1) == 0.0


def test_ndcg_several_relevant_known() -> None:
    # 3 relevant passages known, two found at ranks 1 and 3.
    dcg = 1 + 0.5
    idcg = 1 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k([T, F, T], 10, n_relevant=3) == pytest.approx(dcg / idcg)  # ~0.7039
    # the same ranking when only the found ones are counted (n_relevant unknown)
    assert ndcg_at_k([T, F, T], 10) == pytest.approx(dcg / (1 + 1 / math.log2(3)))  # ~0.9197


def test_ndcg_never_exceeds_one_when_undercounted() -> None:
    assert ndcg_at_k([T, T], 10, n_relevant=1) == pytest.approx(1.0)


def test_ndcg_ignores_hits_past_k_but_unknown_count_sees_them() -> None:
    rels = [F, T] + [F] * 8 + [T]
    # unknown count: 2 found in the list, only the rank-2 hit counts for DCG@10
    assert ndcg_at_k(rels, 10) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_bad_k() -> None:
    with pytest.raises(ValueError):
        recall_at_k([T], 0)
    with pytest.raises(ValueError):
        ndcg_at_k([T], 0)


def test_query_metrics_and_aggregation() -> None:
    a = query_metrics([T], n_relevant=1)
    b = query_metrics([F, F, T], n_relevant=1)
    c = query_metrics([F] * 10, n_relevant=1)
    assert a == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "MRR@10": 1.0, "nDCG@10": 1.0}
    assert b["R@1"] == 0.0 and b["R@5"] == 1.0 and b["MRR@10"] == pytest.approx(1 / 3)
    assert b["nDCG@10"] == pytest.approx(0.5)  # 1/log2(4)
    mean = mean_metrics([a, b, c])
    assert mean["R@1"] == pytest.approx(1 / 3)
    assert mean["R@5"] == pytest.approx(2 / 3)
    assert mean["MRR@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert mean["nDCG@10"] == pytest.approx(0.5)
    assert mean_metrics([]) == {}
    groups = group_mean([("x", a), ("y", c), ("x", b)])
    assert list(groups) == ["x", "y"]
    assert groups["x"]["R@1"] == 0.5 and groups["y"]["R@10"] == 0.0
