"""BM25 over jieba tokens as one sparse matrix, so a query costs a few column sums.

Rows are chunks (in index row order), columns are vocabulary terms, cells hold the
precomputed BM25 term weight; scoring a query adds up its terms' columns. At a million
chunks the columns of common words are long, so such queries first try an exact pruned
search that looks those columns up only for the rows the rare terms make candidates.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexer.textnorm import STOPWORDS

K1 = 1.2
B = 0.75
PRUNE_MIN_POSTINGS = 200_000  # a query with more postings than this first tries the pruned search
COMMON_SHARE = 0.05  # terms in more than this share of rows are "common" for the pruned search


def _top(rows: np.ndarray, scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n best positive (row, score) pairs, best first; ties by row (also at the cut)."""
    positive = scores > 0
    if not positive.all():
        rows, scores = rows[positive], scores[positive]
    if rows.size > n:
        nth = np.partition(scores, rows.size - n)[rows.size - n]
        keep = scores >= nth
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:n]
    return rows[order].astype(np.int64), scores[order]


def stack_postings(parts: list[tuple[sp.csr_matrix, list[str]]]) -> tuple[sp.csr_matrix, list[str]]:
    """Several parts' term frequencies (rows x local terms) as one matrix over the union of their terms, rows in
    order, with the terms in column order (first seen first)."""
    vocab: dict[str, int] = {}
    maps = [np.array([vocab.setdefault(t, len(vocab)) for t in terms], dtype=np.int32) for _, terms in parts]
    width = max(len(vocab), 1)
    blocks = [sp.csr_matrix((tf.data, colmap[tf.indices] if tf.nnz else tf.indices, tf.indptr),
                            shape=(tf.shape[0], width)) for (tf, _), colmap in zip(parts, maps)]
    stacked = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, width), dtype=np.float32)
    return stacked, list(vocab)


class BM25Index:
    def __init__(self, vocab: dict[str, int], weights: sp.csc_matrix, idf: np.ndarray):
        if not weights.has_sorted_indices:  # the pruned search binary-searches each column
            weights.sort_indices()
        self.vocab = vocab
        self.weights = weights
        self.idf = idf
        self._column_max: np.ndarray | None = None

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

    @classmethod
    def from_postings(cls, parts: list[tuple[sp.csr_matrix, list[str]]], k1: float = K1, b: float = B) -> BM25Index:
        """One index over several segments' term frequencies (rows x local terms, rows in order).

        N, document frequencies and the average length are summed over all parts, so every weight equals
        the one `build` gives for the same token lists in one piece (same float32 operations, same order).
        """
        stacked, terms = stack_postings(parts)
        n = stacked.shape[0]
        df = np.bincount(stacked.indices, minlength=stacked.shape[1]).astype(np.int64)  # a term once per row
        live = np.flatnonzero(df > 0)  # terms that only deleted rows held are not in a fresh build either
        new_id = np.full(df.size, -1, dtype=np.int64)
        new_id[live] = np.arange(live.size)
        vocab = {terms[i]: j for j, i in enumerate(live.tolist())}
        if parts and n:
            tf = sp.csr_matrix((stacked.data, new_id[stacked.indices], stacked.indptr), shape=(n, max(live.size, 1)))
            tf.sort_indices()
        else:
            tf = sp.csr_matrix((n, max(live.size, 1)), dtype=np.float32)
        lengths = np.asarray(tf.sum(axis=1)).ravel().astype(np.int64)
        dfl = df[live].astype(np.float32) if live.size else np.zeros(1, dtype=np.float32)
        idf = np.log1p((n - dfl + 0.5) / (dfl + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n else 1.0
        norm = (k1 * (1 - b + b * lengths / max(avgdl, 1e-9))).astype(np.float32)
        row_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(tf.indptr))
        data = tf.data.astype(np.float32)
        tf.data = (idf[tf.indices] * data * (k1 + 1) / (data + norm[row_of])).astype(np.float32)
        return cls(vocab, tf.tocsc(), idf)

    def _columns(self, query_tokens: list[str]) -> np.ndarray:
        """Vocabulary columns of the query's distinct known terms."""
        return np.array([self.vocab[t] for t in dict.fromkeys(query_tokens) if t in self.vocab], dtype=np.int64)

    def _dense_scores(self, cols: np.ndarray, col_weights: np.ndarray | None = None) -> np.ndarray:
        """Scores of every row: the query terms' columns summed (CSC slice and one matrix-vector product)."""
        if cols.size == 0:
            return np.zeros(self.n_rows, dtype=np.float32)
        w = np.ones(cols.size, dtype=np.float32) if col_weights is None else col_weights
        return self.weights[:, cols] @ w

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row (0 where no query term occurs)."""
        return np.asarray(self._dense_scores(self._columns(query_tokens)), dtype=np.float32)

    def search_weighted(
        self, term_weights: dict[str, float], n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows for a query whose terms weigh differently (expansion terms, translated terms)."""
        known = [(self.vocab[t], w) for t, w in term_weights.items() if t in self.vocab and w > 0]
        if not known or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        cols = np.array([c for c, _ in known], dtype=np.int64)
        s = self._dense_scores(cols, np.array([w for _, w in known], dtype=np.float32))
        candidates = np.flatnonzero(s > 0)
        s = s[candidates]
        if allowed is not None:
            keep = allowed[candidates]
            candidates, s = candidates[keep], s[keep]
        return _top(candidates, s, n)

    def search(
        self, query_tokens: list[str], n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows with a positive score, best first.

        Only rows holding a query term are ranked or checked against `allowed`. A query whose terms
        have long posting lists (common words at a million chunks) first tries an exact pruned
        search (`_search_pruned`), which skips scoring most of those postings.
        """
        cols = self._columns(query_tokens)
        if cols.size == 0 or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        ptr = self.weights.indptr
        if cols.size > 1 and int((ptr[cols + 1] - ptr[cols]).sum()) > PRUNE_MIN_POSTINGS:
            found = self._search_pruned(cols, n, allowed)
            if found is not None:
                return found
        s = self._dense_scores(cols)
        candidates = np.flatnonzero(s > 0)  # on a bool array: several times faster than on the floats
        s = s[candidates]
        if allowed is not None:
            keep = allowed[candidates]
            candidates, s = candidates[keep], s[keep]
        return _top(candidates, s, n)

    @property
    def column_max(self) -> np.ndarray:
        """Largest weight in each column: how much a term can add to any row's score (computed once)."""
        if self._column_max is None:
            w = self.weights
            out = np.zeros(w.shape[1], dtype=np.float32)
            filled = np.flatnonzero(np.diff(w.indptr))
            if filled.size:
                out[filled] = np.maximum.reduceat(w.data, w.indptr[filled])
            self._column_max = out
        return self._column_max

    def _search_pruned(self, cols: np.ndarray, n: int, allowed: np.ndarray | None):
        """Exact top-n without adding up the long posting lists for every row (None: not applicable).

        The rare terms (at most COMMON_SHARE of the rows, and at least the rarest one) are scored
        fully over the rows they occur in; theta is the n-th best of those partial scores. A row
        can gain at most U (the sum of the common terms' column maxima) from the common terms, so
        when U < theta no row outside those candidates can reach the top n, and among the
        candidates only those with partial + U >= theta can: the common terms are then looked up
        for these few rows alone (binary search in each sorted column). Otherwise None, and the
        caller scores exhaustively. Same rows and scores as exhaustive scoring (up to float
        rounding).
        """
        w, ptr = self.weights, self.weights.indptr
        lengths = ptr[cols + 1] - ptr[cols]
        order = np.argsort(lengths, kind="stable")
        cols, lengths = cols[order], lengths[order]
        k = max(1, int(np.searchsorted(lengths, COMMON_SHARE * self.n_rows, side="right")))
        rare, common = cols[:k], cols[k:]
        if common.size == 0:
            return None
        rows = np.concatenate([w.indices[ptr[c] : ptr[c + 1]] for c in rare])
        vals = np.concatenate([w.data[ptr[c] : ptr[c + 1]] for c in rare])
        candidates, inverse = np.unique(rows, return_inverse=True)
        partial = np.bincount(inverse, weights=vals)
        if allowed is not None:
            keep = allowed[candidates]
            candidates, partial = candidates[keep], partial[keep]
        if candidates.size < n:
            return None
        theta = np.partition(partial, candidates.size - n)[candidates.size - n]
        bound = float(self.column_max[common].sum())
        if bound >= theta:
            return None
        keep = partial + bound >= theta
        candidates, s = candidates[keep], partial[keep]
        for c in common:
            col_rows, col_data = w.indices[ptr[c] : ptr[c + 1]], w.data[ptr[c] : ptr[c + 1]]
            at = np.minimum(np.searchsorted(col_rows, candidates), col_rows.size - 1)
            s = s + np.where(col_rows[at] == candidates, col_data[at], 0.0)
        return _top(candidates, s.astype(np.float32), n)

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


def read_term_table(path: Path) -> dict[str, list[str]] | None:
    """`key<TAB>item item ...` lines (`#` comments) as key -> items; None when the file does not exist.

    The format of the query-side dictionaries built offline (en_zh.tsv, colloquial.tsv)."""
    if not Path(path).exists():
        return None
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or "\t" not in line:
                continue
            key, items = line.rstrip("\n").split("\t", 1)
            entries[key] = items.split()
    return entries


_EN_WORD_RE = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
# Function words: a phrase key that begins or ends with one is a gloss's filler ("the core", "how much").
EDGE_WORDS = frozenset(w for w in STOPWORDS if w.isascii()) | {"much", "many"}
JOINED = "·"  # joins the words of one Chinese term in a lexicon entry (see Lexicon._shares)


def english_words(text: str) -> list[str]:
    """The words of lower-case English text as lexicon keys are written: "people's" is "people"."""
    return [w.strip("'") for w in _EN_WORD_RE.findall(text.replace("'s ", " ")) if w.strip("'")]


class Lexicon:
    """English -> Chinese terms (data/dict/en_zh.tsv, built by `python -m indexer.tools.lexicon`).

    Gives an English question a BM25 side: its word n-grams (longest first, plural and
    verb endings tried) become the Chinese words CC-CEDICT and the policy-term glossary give them.
    """

    MAX_NGRAM = 8  # the longest key looked up, in words (the glossary's longest are 6-7)

    def __init__(self, entries: dict[str, list[str]]):
        self.entries = entries
        self.max_ngram = min(self.MAX_NGRAM, max((k.count(" ") + 1 for k in entries), default=1))

    @classmethod
    def load(cls, path: Path) -> Lexicon | None:
        """The lexicon at `path`, or None when it has not been built."""
        entries = read_term_table(path)
        return None if entries is None else cls(entries)

    def _variants(self, phrase: str) -> list[str]:
        """The phrase, then its last word without a plural or verb ending (pensions -> pension)."""
        head, _, last = phrase.rpartition(" ")
        forms = [last]
        for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e")):
            if last.endswith(suffix) and len(last) - len(suffix) >= 3:
                forms.append(last[: -len(suffix)] + repl)
        return [(head + " " + f).strip() for f in forms]

    def terms(
        self, words: list[str], stopwords: frozenset[str] = frozenset(), idf: Callable[[str], float] | None = None
    ) -> dict[str, float]:
        """Chinese terms for a list of lower-case English words; a key's words share weight 1.

        With `idf` (the index's), the corpus picks the sense: a key's words the corpus never uses are
        dropped and the rest share the weight by how common they are there.
        """
        out: dict[str, float] = {}
        i = 0
        while i < len(words):
            for size in range(min(self.max_ngram, len(words) - i), 0, -1):
                phrase = " ".join(words[i : i + size])
                if size == 1 and phrase in stopwords:
                    continue
                if size > 1 and (words[i] in EDGE_WORDS or words[i + size - 1] in EDGE_WORDS):
                    continue  # "the core", "how much": a gloss's filler, not the question's meaning
                hit = next((self.entries[v] for v in self._variants(phrase) if v in self.entries), None)
                shares = self._shares(hit, idf) if hit else None
                if shares:
                    for word, share in shares.items():
                        out[word] = max(out.get(word, 0.0), share)
                    i += size - 1
                    break
            i += 1
        return out

    @staticmethod
    def _shares(hit: list[str], idf: Callable[[str], float] | None) -> dict[str, float]:
        """How a key's weight is shared by its words (see `terms`); empty when the corpus uses none of them.

        Measured on the dev English questions (hybrid MRR@10): all words equally 0.475, the corpus's words
        equally 0.494 (kept), shared by corpus frequency 0.450-0.461 (a common sense drowns the specific one).
        """
        present = [w for w in hit if idf is None or all(idf(p) > 0 for p in w.split(JOINED))]
        # A term written as its words joined (减税·降费: the tokenizer cuts 减税降费 in two) needs all of them.
        return {p: 1.0 / len(present) for w in present for p in w.split(JOINED)}
