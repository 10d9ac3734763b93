"""BM25 over jieba tokens as one sparse matrix, so a query costs a few column sums.

Rows are chunks (in index row order), columns are vocabulary terms, cells hold the
precomputed BM25 term weight; scoring a query adds up its terms' columns.
"""

from __future__ import annotations

import json
from array import array
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
        n = len(token_lists)
        lengths = np.fromiter((len(tokens) for tokens in token_lists), dtype=np.int64, count=n)
        # Term ids in one compact int32 buffer (Python lists of row and column ints would take ~8x the
        # memory at a million chunks). Ids follow first occurrence; most chunks only hold known terms.
        ids = array("i")
        for tokens in token_lists:
            try:
                ids.extend([vocab[t] for t in tokens])
            except KeyError:
                for t in tokens:
                    if t not in vocab:
                        vocab[t] = len(vocab)
                ids.extend([vocab[t] for t in tokens])
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        cols = np.frombuffer(ids, dtype=np.int32) if len(ids) else np.zeros(0, dtype=np.int32)
        tf = sp.csr_matrix(
            (np.ones(len(cols), dtype=np.float32), cols, indptr), shape=(n, max(len(vocab), 1))
        )
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n else 1.0
        norm = (k1 * (1 - b + b * lengths / max(avgdl, 1e-9))).astype(np.float32)
        row_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(tf.indptr))
        data = tf.data
        tf.data = (idf[tf.indices] * data * (k1 + 1) / (data + norm[row_of])).astype(np.float32)
        del row_of
        return cls(vocab, tf.tocsc(), idf)

    def _postings(self, query_tokens: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """Rows and weights of the query terms' columns, concatenated (a row repeats per matching term),
        and how many distinct known terms the query has."""
        w = self.weights
        cols = [self.vocab[t] for t in dict.fromkeys(query_tokens) if t in self.vocab]
        if not cols:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32), 0
        ptr = w.indptr
        rows = np.concatenate([w.indices[ptr[c] : ptr[c + 1]] for c in cols])
        vals = np.concatenate([w.data[ptr[c] : ptr[c + 1]] for c in cols])
        return rows, vals, len(cols)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row (0 where no query term occurs)."""
        rows, vals, _ = self._postings(query_tokens)
        return np.bincount(rows, weights=vals, minlength=self.n_rows).astype(np.float32)

    def search(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows with a positive score, best first.

        Cost follows the postings of the query terms, not the row count: the scores are summed
        with one bincount, and only rows that hold a query term are ranked or checked against `allowed`.
        """
        rows, vals, n_terms = self._postings(query_tokens)
        if rows.size == 0 or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if n_terms == 1:  # one column: rows are distinct already
            candidates, s = rows, vals
        elif rows.size * 32 < self.n_rows:  # few postings: sorting them beats a full-size array
            candidates, inverse = np.unique(rows, return_inverse=True)
            s = np.bincount(inverse, weights=vals).astype(np.float32)
        else:
            full = np.bincount(rows, weights=vals, minlength=self.n_rows)
            candidates = np.flatnonzero(full)
            s = full[candidates].astype(np.float32)
        if allowed is not None:
            keep = allowed[candidates]
            candidates, s = candidates[keep], s[keep]
        positive = s > 0
        if not positive.all():
            candidates, s = candidates[positive], s[positive]
        if candidates.size > n:
            top = np.argpartition(-s, n - 1)[:n]
            candidates, s = candidates[top], s[top]
        order = np.lexsort((candidates, -s))  # best first; ties by row, as a stable sort over rows gave
        return candidates[order].astype(np.int64), s[order]

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
