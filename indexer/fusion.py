"""Fusing rankings of the same candidates (dense, BM25, best sentence) into one: a weighted sum of normalised
scores (the default, `fusion=sum`) or reciprocal rank fusion."""

from __future__ import annotations

import numpy as np


def rrf_fuse(
    rankings: list[np.ndarray], rrf_k: int = 60, weights: list[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of weight/(rrf_k + rank) over the rankings a row appears in."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings)):
        if weight <= 0:
            continue
        for rank, row in enumerate(ranking, start=1):
            scores[int(row)] = scores.get(int(row), 0.0) + weight / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def score_fuse(rankings: list[tuple[np.ndarray, np.ndarray]], weights: list[float]) -> list[tuple[int, float]]:
    """Weighted sum of max-normalised scores (a row missing from a ranking scores 0 there)."""
    scores: dict[int, float] = {}
    for (rows, raw), weight in zip(rankings, weights):
        if weight <= 0 or len(rows) == 0:
            continue
        top, low = float(raw[0]), float(raw[-1])
        for row, value in zip(rows.tolist(), raw.tolist()):
            norm = (value - low) / (top - low) if top > low else 1.0  # a lone or tied ranking counts fully
            scores[row] = scores.get(row, 0.0) + weight * norm
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def sentence_ranking(sentences, rankings, weights, qvec) -> tuple[np.ndarray, np.ndarray]:
    """Candidates of the weighted rankings re-scored by their best sentence's similarity, best first."""
    rows = np.unique(np.concatenate([r[0] for r, w in zip(rankings, weights) if w > 0] or [np.zeros(0, np.int64)]))
    if len(rows) == 0:
        return rows.astype(np.int64), np.zeros(0, np.float32)
    scores, _ = sentences.best(rows.tolist(), qvec)
    order = np.argsort(-scores, kind="stable")
    return rows[order].astype(np.int64), scores[order]
