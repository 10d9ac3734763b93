"""BM25 over jieba tokens as one sparse matrix, so a query costs a few column sums.

Rows are chunks (in index row order), columns are vocabulary terms, cells hold the
precomputed BM25 term weight; scoring a query adds up its terms' columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

K1 = 1.2
B = 0.75


class BM25Index:
    def __init__(self, vocab: dict[str, int], weights: sp.csc_matrix, idf: np.ndarray):
        self.vocab = vocab
        self.weights = weights
        self.idf = idf

    @property
    def n_rows(self) -> int:
        return self.weights.shape[0]

    @classmethod
    def build(cls, token_lists: list[list[str]], k1: float = K1, b: float = B) -> BM25Index:
        vocab: dict[str, int] = {}
        rows, cols = [], []
        lengths = np.zeros(len(token_lists), dtype=np.float32)
        for i, tokens in enumerate(token_lists):
            lengths[i] = len(tokens)
            for t in tokens:
                cols.append(vocab.setdefault(t, len(vocab)))
                rows.append(i)
        n = len(token_lists)
        tf = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
            shape=(n, max(len(vocab), 1)),
        )
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n else 1.0
        norm = k1 * (1 - b + b * lengths / max(avgdl, 1e-9))
        row_of = np.repeat(np.arange(n), np.diff(tf.indptr))
        data = tf.data
        tf.data = (idf[tf.indices] * data * (k1 + 1) / (data + norm[row_of])).astype(np.float32)
        return cls(vocab, tf.tocsc(), idf)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        cols = [self.vocab[t] for t in dict.fromkeys(query_tokens) if t in self.vocab]
        if not cols:
            return np.zeros(self.n_rows, dtype=np.float32)
        return np.asarray(self.weights[:, cols].sum(axis=1)).ravel()

    def search(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows with a positive score, best first."""
        s = self.scores(query_tokens)
        if allowed is not None:
            s = np.where(allowed, s, 0.0)
        positive = np.flatnonzero(s > 0)
        if positive.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if positive.size > n:
            positive = positive[np.argpartition(-s[positive], n - 1)[:n]]
        order = positive[np.argsort(-s[positive], kind="stable")]
        return order, s[order]

    def term_idf(self, term: str) -> float:
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else 0.0

    def save(self, folder: Path) -> None:
        sp.save_npz(folder / "bm25.npz", self.weights, compressed=False)
        np.save(folder / "bm25_idf.npy", self.idf)
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> BM25Index:
        vocab = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        return cls(vocab, sp.load_npz(folder / "bm25.npz").tocsc(), np.load(folder / "bm25_idf.npy"))
