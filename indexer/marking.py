"""Which sentence of a result is marked as its best: the one holding the most query information, or, where no
query word occurs (an English question), the one closest in meaning (vectors stored at index time, else embedded
once and cached)."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from indexer import textnorm
from indexer.models import SearchResult
from indexer.numbers import fold_numbers
from indexer.sentences import split_sentences


def best_sentence(text: str, query_tokens: list[str], idf, folded: str | None = None) -> tuple[int, int]:
    """The sentence holding the most query information (sum of idf of the terms it contains).

    `folded`: textnorm.fold(text) when the caller has it already (folding is most of this function's cost).
    """
    spans = split_sentences(text)
    if not spans:
        return 0, 0
    folded = textnorm.fold(text) if folded is None else folded
    terms = set(query_tokens)
    best, best_score = spans[0], 0.0
    for s, e in spans:
        sentence = fold_numbers(folded[s:e])  # query tokens carry numbers in one spelling
        score = sum(idf(t) for t in terms if t in sentence)
        if score > best_score:
            best, best_score = (s, e), score
    return best


class SentenceCache:
    """Bounded LRU of sentence vectors for the sentences-by-meaning step (English queries)."""

    PIECE = 8  # sentences per encode call

    def __init__(self, size: int):
        self.size = max(0, size)
        self._vecs: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: list[str], encode) -> np.ndarray:
        with self._lock:
            found = {t: self._vecs[t] for t in texts if t in self._vecs}
            for t in found:
                self._vecs.move_to_end(t)
        todo = list(dict.fromkeys(t for t in texts if t not in found))
        for start in range(0, len(todo), self.PIECE):  # kept piece by piece: an abandoned step still progresses
            piece = todo[start : start + self.PIECE]
            fresh = encode(piece)
            with self._lock:
                for t, vec in zip(piece, fresh):
                    found[t] = vec
                    if self.size:
                        self._vecs[t] = vec
                while len(self._vecs) > self.size:
                    self._vecs.popitem(last=False)
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def mark_stored_sentences(
    results: list[SearchResult], rows: list[int], tokens: list[str], qvec, sentences, folded: list[str] | None = None
) -> None:
    """Where no query word occurs in a passage, mark its sentence closest in meaning (vectors from the index).

    `folded`: the results' texts folded (textnorm.fold), when the caller has them already.
    """
    folded = [textnorm.fold(r.text) for r in results] if folded is None else folded
    todo = [(r, row) for r, row, f in zip(results, rows, folded) if not any(t in f for t in tokens)]
    if not todo:
        return
    _, spans = sentences.best([row for _, row in todo], qvec)
    for (r, _), span in zip(todo, spans):
        if span is not None and span[1] <= len(r.text):
            a, b = span
            r.best_sentence, r.best_sentence_start, r.best_sentence_end = r.text[a:b], a, b


def mark_sentences_by_meaning(
    results: list[SearchResult], tokens: list[str], qvec: np.ndarray, cache: SentenceCache, encode, most: int
) -> None:
    """Where no query word occurs in a passage, pick its sentence closest in meaning, embedding the sentences now
    (an index without sentence vectors, e.g. on Milvus; mark_stored_sentences needs no model call).

    Only for queries without Chinese: embedding the sentences costs ~100 ms, which Chinese queries, whose words
    nearly always occur in the passages found, should not pay (measured by `make bench`). At most `most`
    sentences a query are embedded; the rest keep the lexical pick.
    """
    todo = [r for r in results if not any(t in textnorm.fold(r.text) for t in tokens)]
    spans, total = [], 0
    for r in todo:
        ss = split_sentences(r.text)[: most - total]
        if not ss:
            break
        spans.append(ss)
        total += len(ss)
    todo = todo[: len(spans)]
    texts = [r.text[a:b] for r, ss in zip(todo, spans) for a, b in ss]
    if not texts:
        return
    vecs = cache.vectors(texts, encode)  # cached: passages repeat
    sims = vecs @ np.asarray(qvec, dtype=np.float32)
    i = 0
    for r, ss in zip(todo, spans):
        a, b = ss[int(np.argmax(sims[i : i + len(ss)]))]
        r.best_sentence, r.best_sentence_start, r.best_sentence_end = r.text[a:b], a, b
        i += len(ss)
