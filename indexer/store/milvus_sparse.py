"""BM25 inside Milvus as sparse vectors, so a serving process holds no corpus tokens (servers with
SPARSE_FLOAT_VECTOR: Milvus Lite 3.x, servers >= 2.4).

Each passage row stores its BM25 term saturations, ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``,
keyed by a term id, plus its length ``dl``; a query is the vector of its terms' idf (times the term weights of
an expanded query), so Milvus's inner product is the BM25 score. The statistics (N, total length, document
frequencies) are global over the live rows, like the in-process BM25 (`lexical.BM25Index`); they are kept as one
small delta per generation (rows of the documents collection with ``doc_index`` -2): the new terms with their
ids, the df changes, the row and length changes, and the avgdl that generation's rows were weighted with. A
reader sums the deltas up to its generation: vocabulary and df only, no tokens.

idf goes on the query side only, so adds and removes never rewrite stored rows for N or df. The average length
does sit in the stored weights: rows written by an earlier generation keep the avgdl of their day. When a
reader's live rows were weighted with another avgdl than today's ("drift"), it asks Milvus for a wider set of
candidates and rescores them exactly (term frequencies recovered from the stored weights, today's avgdl), so its
scores equal a fresh build's; without drift (a fresh build, or writes that leave avgdl as it was) Milvus's
scores are used as they are.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.lexical import K1, B, _top

STATS_DOC_INDEX = -2  # rows of the documents collection that hold a generation's term statistics
PLACEHOLDER_ID = 0  # Milvus refuses an empty sparse vector: a passage without terms gets this id (no query has it)
MAX_HITS = 16384  # Milvus's largest top-k
SEARCH_PARAMS = {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}
INDEX_PARAMS = {"drop_ratio_build": 0.0}  # keep every posting: exact


def norms(lengths: np.ndarray, avgdl: float, k1: float = K1, b: float = B) -> np.ndarray:
    """BM25's length normalisation per row, computed as lexical.BM25Index does (float64, then float32)."""
    return (k1 * (1 - b + b * np.asarray(lengths, dtype=np.int64) / max(avgdl, 1e-9))).astype(np.float32)


def saturation(tf: np.ndarray, norm: np.ndarray, k1: float = K1) -> np.ndarray:
    tf = np.asarray(tf, dtype=np.float32)
    return (tf * np.float32(k1 + 1) / (tf + norm)).astype(np.float32)


@dataclass
class TermStats:
    """Global BM25 statistics of the live rows at one generation: vocabulary (term -> id), df, N, total length,
    and the avgdl each generation weighted its rows with."""

    vocab: dict[str, int] = field(default_factory=dict)
    df: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))  # by term id (0: placeholder)
    n: int = 0
    length: int = 0
    written_avgdl: dict[int, float] = field(default_factory=dict)  # gen -> avgdl of its rows (gens with rows)

    @property
    def avgdl(self) -> float:
        return self.length / self.n if self.n else 1.0

    @classmethod
    def from_deltas(cls, deltas: Sequence[tuple[int, dict]]) -> TermStats:
        """Sum the per-generation deltas (gen, delta), oldest first."""
        return cls().plus(deltas, copy=False)

    def plus(self, deltas: Sequence[tuple[int, dict]], copy: bool = True) -> TermStats:
        """These statistics with later generations' deltas added (a copy unless told otherwise)."""
        s = TermStats(dict(self.vocab), self.df.copy(), self.n, self.length, dict(self.written_avgdl)) if copy else self
        for gen, d in sorted(deltas, key=lambda x: x[0]):
            for i, term in enumerate(d.get("new_terms", []), start=int(d.get("first_id", len(s.vocab) + 1))):
                s.vocab[term] = i
            size = max(s.vocab.values(), default=0) + 1
            if s.df.size < size:
                s.df = np.concatenate([s.df, np.zeros(size - s.df.size, dtype=np.int64)])
            if d.get("df"):
                ids, counts = np.array(d["df"], dtype=np.int64).reshape(-1, 2).T
                np.add.at(s.df, ids, counts)
            s.n += int(d.get("rows", 0))
            s.length += int(d.get("length", 0))
            if d.get("inserted"):
                s.written_avgdl[gen] = float(d["avgdl"])
        return s

    def change(self, added: list[list[str]], removed: list[list[str]]) -> dict:
        """Apply added and removed rows' tokens (new terms get ids); return the delta to store."""
        first = max(self.vocab.values(), default=0) + 1
        new_terms = []
        for tokens in added:
            for t in tokens:
                if t not in self.vocab:
                    self.vocab[t] = first + len(new_terms)
                    new_terms.append(t)
        if self.df.size < first + len(new_terms):
            self.df = np.concatenate([self.df, np.zeros(first + len(new_terms) - self.df.size, dtype=np.int64)])
        delta: Counter = Counter()
        for sign, rows in ((1, added), (-1, removed)):
            for tokens in rows:
                for t in set(tokens):
                    if t in self.vocab:
                        delta[self.vocab[t]] += sign
        for i, c in delta.items():
            self.df[i] += c
        d_rows = len(added) - len(removed)
        d_len = sum(map(len, added)) - sum(map(len, removed))
        self.n += d_rows
        self.length += d_len
        return {"rows": d_rows, "length": d_len, "first_id": first, "new_terms": new_terms,
                "df": [[i, c] for i, c in sorted(delta.items()) if c], "inserted": len(added), "avgdl": self.avgdl}

    def weights(self, token_lists: list[list[str]]) -> list[dict[int, float]]:
        """Each row's sparse vector (term id -> saturation at today's avgdl), for rows being inserted."""
        lengths = np.fromiter((len(t) for t in token_lists), dtype=np.int64, count=len(token_lists))
        norm = norms(lengths, self.avgdl)
        out = []
        for tokens, nm in zip(token_lists, norm):
            if not tokens:
                out.append({PLACEHOLDER_ID: 1.0})
                continue
            counts = Counter(self.vocab[t] for t in tokens)
            ids = list(counts)
            sat = saturation(np.array([counts[i] for i in ids]), nm)
            out.append(dict(zip(ids, sat.tolist())))
        return out

    def idf(self) -> np.ndarray:
        """idf by term id, computed as lexical.BM25Index does (float32); 0 for terms no live row holds."""
        dfl = self.df.astype(np.float32)
        out = np.log1p((self.n - dfl + 0.5) / (dfl + 0.5)).astype(np.float32)
        out[self.df <= 0] = 0.0
        return out


def delta_rows(delta: dict, first_pk: int, gen: int, part_chars: int, template: dict) -> list[dict]:
    """A generation's statistics delta as rows of the documents collection (JSON in parts)."""
    text = json.dumps(delta, ensure_ascii=False)
    parts = [text[i : i + part_chars] for i in range(0, len(text), part_chars)] or [""]
    return [{**template, "pk": first_pk + p, "gen": gen, "doc_index": STATS_DOC_INDEX, "part": p, "body": body}
            for p, body in enumerate(parts)]


def parse_deltas(rows: list[dict]) -> list[tuple[int, dict]]:
    """(gen, delta) from the statistics rows of any number of generations."""
    by_gen: dict[int, list[tuple[int, str]]] = {}
    for r in rows:
        by_gen.setdefault(int(r["gen"]), []).append((int(r["part"]), r["body"]))
    return [(g, json.loads("".join(b for _, b in sorted(parts)))) for g, parts in sorted(by_gen.items())]


class SparseBM25:
    """The reader's lexical index (BM25Index's search API) with the postings in Milvus.

    `search(query, n, allowed)` runs a Milvus sparse search (rows, scores); `fetch(rows)` gives each row's
    (gen, length, stored vector) for exact rescoring. Holds the vocabulary and idf only.
    """

    max_hits = MAX_HITS

    def __init__(self, stats: TermStats, n_rows: int, search: Callable, fetch: Callable):
        self.vocab = stats.vocab
        self.idf = stats.idf()
        self._n_rows = n_rows
        self._avgdl = stats.avgdl
        self._written = stats.written_avgdl
        self._search, self._fetch = search, fetch
        self.drift = any(abs(a - self._avgdl) > 1e-12 * max(1.0, a) for a in self._written.values())

    @property
    def n_rows(self) -> int:
        return self._n_rows

    def term_idf(self, term: str) -> float:
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else 0.0

    def search(self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None):
        return self.search_weighted(dict.fromkeys(query_tokens, 1.0), n, allowed)

    def search_weighted(self, term_weights: dict[str, float], n: int, allowed: np.ndarray | None = None):
        """Top-n rows with a positive score, best first (ties by row, as BM25Index)."""
        empty = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ids = [(self.vocab[t], w) for t, w in term_weights.items() if t in self.vocab and w > 0]
        ids = [(i, w) for i, w in ids if self.idf[i] > 0]
        if not ids or n <= 0 or (allowed is not None and not allowed.any()):
            return empty
        query = {i: float(self.idf[i] * np.float32(w)) for i, w in ids}
        wanted = min(n, self.max_hits)
        # Past Milvus's top-k cap the caller counts matches ("at least"): no rescoring of 16k rows for that.
        rescore = self.drift and n < self.max_hits
        limit = min(self.max_hits, max(2 * wanted, wanted + 100)) if rescore else wanted
        rows, scores = self._search(query, limit, allowed)
        if rescore and rows.size:
            scores = self._rescore(rows, ids)
        return _top(rows, np.asarray(scores, dtype=np.float32), wanted)

    def _rescore(self, rows: np.ndarray, ids: list[tuple[int, float]]) -> np.ndarray:
        """Exact BM25 of these rows at today's avgdl: tf recovered from each stored saturation and the
        avgdl its generation used."""
        fetched = self._fetch(rows.tolist())
        k1p = np.float32(K1 + 1)
        out = np.zeros(rows.size, dtype=np.float32)
        for j, (gen, length, vec) in enumerate(fetched):
            old = norms(np.array([length]), self._written.get(gen, self._avgdl))[0]
            now = norms(np.array([length]), self._avgdl)[0]
            total = np.float32(0.0)
            for i, w in ids:
                sat = vec.get(i)
                if sat is None:
                    continue
                tf = np.float32(round(float(sat) * float(old) / (float(k1p) - float(sat))))
                total += np.float32(w) * (self.idf[i] * tf * k1p / (tf + now))
            out[j] = total
        return out
