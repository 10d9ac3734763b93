"""Sentence vectors: one vector per sentence of every passage, computed at index time.

They serve two purposes at query time, neither of which embeds anything then: a second dense signal
(the best sentence's similarity to the query, fused with the passage's) and the best-sentence mark of
a result when no query word occurs in it (English questions).

Stored as two row-aligned extension arrays of the index content (`IndexContent.extras`, so segments,
merges and deletions carry them row by row)::

    sentence_spans    (n, S, 2) int32: start, end of each sentence in the chunk text; (-1, -1) = none
    sentence_vectors  (n, S, dim) float16, L2-normalised; zero where there is no sentence

S = MAX_SENTENCES: a passage with more sentences has its neighbours grouped into S spans (4% of the
corpus's passages have more than 12 sentences).
"""

from __future__ import annotations

import numpy as np

SPANS = "sentence_spans"
VECTORS = "sentence_vectors"
MAX_SENTENCES = 12


def group_spans(spans: list[tuple[int, int]], limit: int = MAX_SENTENCES) -> list[list[int]]:
    """Indexes of `spans` grouped into at most `limit` runs of neighbours, as even as possible."""
    n = len(spans)
    if n <= limit:
        return [[i] for i in range(n)]
    bounds = np.linspace(0, n, limit + 1).round().astype(int)
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def pack(per_row: list[tuple[list[tuple[int, int]], np.ndarray]], dim: int) -> dict[str, np.ndarray]:
    """The two extension arrays from each row's (sentence spans, unit vectors)."""
    n = len(per_row)
    spans = np.full((n, MAX_SENTENCES, 2), -1, dtype=np.int32)
    vecs = np.zeros((n, MAX_SENTENCES, dim), dtype=np.float16)
    for row, (ss, vv) in enumerate(per_row):
        vv = np.asarray(vv, dtype=np.float32)
        for k, group in enumerate(group_spans(ss)):
            spans[row, k] = (ss[group[0]][0], ss[group[-1]][1])
            v = vv[group].mean(axis=0)
            vecs[row, k] = v / max(float(np.linalg.norm(v)), 1e-12)
    return {SPANS: spans, VECTORS: vecs}


def empty(dim: int) -> dict[str, np.ndarray]:
    return {SPANS: np.zeros((0, MAX_SENTENCES, 2), np.int32), VECTORS: np.zeros((0, MAX_SENTENCES, dim), np.float16)}


class RowSentences:
    """Query-time view of a version's sentence vectors (None from `of` when the version has none)."""

    def __init__(self, read) -> None:
        self._read = read  # (key, rows) -> array of those rows

    @classmethod
    def of(cls, version) -> RowSentences | None:
        """The version's sentence vectors, when its store kept them (FAISS segments; not Milvus)."""
        read = getattr(version, "extra_rows", None)
        if read is None or not getattr(version, "has_extra", lambda key: False)(VECTORS):
            return None
        return cls(read)

    def best(self, rows: list[int], qvec: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
        """Per row: the best sentence's cosine to `qvec` (0 where a row has none) and its span."""
        if not rows:
            return np.zeros(0, np.float32), []
        vecs = np.asarray(self._read(VECTORS, rows), dtype=np.float32)  # (r, S, dim)
        spans = np.asarray(self._read(SPANS, rows))
        sims = vecs @ np.asarray(qvec, dtype=np.float32)  # (r, S)
        sims[spans[:, :, 0] < 0] = -np.inf
        best = np.argmax(sims, axis=1)
        scores = sims[np.arange(len(rows)), best]
        out_spans: list[tuple[int, int] | None] = []
        for i, k in enumerate(best.tolist()):
            a, b = spans[i, k]
            out_spans.append((int(a), int(b)) if a >= 0 else None)
        return np.where(np.isfinite(scores), scores, 0.0).astype(np.float32), out_spans
