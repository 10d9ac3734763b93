"""Ranking metrics for the retrieval evaluation, as small pure functions.

Input for one query is its relevance list: one boolean per ranked result, best
first (``rels[i]`` is True when the result at rank ``i + 1`` is a correct
passage), plus, for nDCG, how many relevant passages exist.

Choices (kept explicit because they change the numbers):

* ``recall_at_k`` is *success@k* (a hit rate): 1.0 when at least one correct
  passage is in the top k, else 0.0. A question here needs one passage that
  answers it; when re-chunking splits or duplicates that passage, counting
  the fraction of all matching chunks found would punish the chunker, not the
  ranking.
* ``reciprocal_rank`` is 1/rank of the first correct passage within the top
  k (MRR@10 when averaged with k=10), 0.0 when none.
* ``ndcg_at_k`` uses binary gains and the usual ``1/log2(rank + 1)`` discount.
  The ideal DCG places ``min(k, n_relevant)`` correct passages at the top,
  where ``n_relevant`` is the number of relevant passages *known* (the
  evaluator counts the chunks of the target document that contain the answer
  phrase). When that is unknown (None), it falls back to the number found in
  the ranked list, so the score then only measures how high the found ones
  sit. A query with nothing relevant scores 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

METRIC_NAMES = ("R@1", "R@5", "R@10", "MRR@10", "nDCG@10")


def recall_at_k(rels: Sequence[bool], k: int) -> float:
    """Success@k: 1.0 when any of the first k results is relevant."""
    if k <= 0:
        raise ValueError("k must be positive")
    return 1.0 if any(rels[:k]) else 0.0


def first_relevant_rank(rels: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, None when there is none."""
    for i, rel in enumerate(rels):
        if rel:
            return i + 1
    return None


def reciprocal_rank(rels: Sequence[bool], k: int = 10) -> float:
    """1/rank of the first relevant result within the top k, else 0.0."""
    if k <= 0:
        raise ValueError("k must be positive")
    rank = first_relevant_rank(rels[:k])
    return 0.0 if rank is None else 1.0 / rank


def dcg_at_k(rels: Sequence[bool], k: int) -> float:
    """Discounted cumulative gain with binary gains: sum of 1/log2(rank+1) over hits."""
    return sum(1.0 / math.log2(i + 2) for i, rel in enumerate(rels[:k]) if rel)


def ideal_dcg(n_relevant: int, k: int) -> float:
    """DCG of a ranking that puts min(k, n_relevant) relevant results first."""
    return sum(1.0 / math.log2(i + 2) for i in range(min(k, max(n_relevant, 0))))


def ndcg_at_k(rels: Sequence[bool], k: int = 10, n_relevant: int | None = None) -> float:
    """Binary nDCG@k; the ideal comes from `n_relevant` (known) or the hits found (fallback).

    A known `n_relevant` smaller than the hits found (the caller under-counted)
    is raised to the hits found, so the score never exceeds 1.
    """
    if k <= 0:
        raise ValueError("k must be positive")
    found = sum(1 for rel in rels if rel)
    n = found if n_relevant is None else max(n_relevant, sum(1 for rel in rels[:k] if rel))
    idcg = ideal_dcg(n, k)
    return 0.0 if idcg == 0.0 else dcg_at_k(rels, k) / idcg


def query_metrics(rels: Sequence[bool], n_relevant: int | None = None) -> dict[str, float]:
    """All reported metrics for one query, keyed by METRIC_NAMES."""
    return {
        "R@1": recall_at_k(rels, 1),
        "R@5": recall_at_k(rels, 5),
        "R@10": recall_at_k(rels, 10),
        "MRR@10": reciprocal_rank(rels, 10),
        "nDCG@10": ndcg_at_k(rels, 10, n_relevant),
    }


def mean_metrics(per_query: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Macro average over queries (each query weighs the same); {} for no queries."""
    rows = list(per_query)
    if not rows:
        return {}
    keys = [key for key in rows[0]]
    return {key: sum(row[key] for row in rows) / len(rows) for key in keys}


def group_mean(per_query: Iterable[tuple[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """Macro averages per group label (e.g. per query kind), groups in first-seen order."""
    groups: dict[str, list[Mapping[str, float]]] = {}
    for label, row in per_query:
        groups.setdefault(label, []).append(row)
    return {label: mean_metrics(rows) for label, rows in groups.items()}
