"""BM25 statistics a Milvus reader keeps: term statistics of sparse-vector versions, and the term frequencies
of the in-process BM25, held compactly and carried over from one generation's reader to the next."""

from __future__ import annotations

from array import array

import numpy as np
import scipy.sparse as sp

from indexer.lexical import stack_postings
from indexer.store import milvus_sparse as sparse_bm25
from indexer.store.milvus_client import DOCS_SUFFIX


def read_term_stats(
    client, collection: str, gen: int, consistency: str = "Strong", after: int = -1, deltas_only: bool = False
):
    """The BM25 statistics of a generation: the deltas of generations after+1..gen summed (milvus_sparse.py);
    with `deltas_only`, the (gen, delta) list itself."""
    rows = client.query(
        collection + DOCS_SUFFIX,
        filter=f"doc_index == {sparse_bm25.STATS_DOC_INDEX} and gen <= {gen} and gen > {after}",
        output_fields=["gen", "part", "body"], limit=16384, consistency_level=consistency,
    )
    deltas = sparse_bm25.parse_deltas(rows)
    return deltas if deltas_only else sparse_bm25.TermStats.from_deltas(deltas)


MAX_POSTING_PARTS = 8  # a reader joins its term-frequency parts into one past this many


class TermCounts:
    """Term frequencies of rows streamed in as space-joined token strings, held compactly (one int32 per token,
    not Python lists, while reading; then an int32 term and a uint16 count per distinct term of a row), for the
    in-process BM25 of a reader."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.ids = array("i")
        self.indptr = array("q", [0])

    def add(self, tokens: str) -> None:
        if tokens:
            vocab = self.vocab
            self.ids.extend([vocab.setdefault(t, len(vocab)) for t in tokens.split(" ")])
        self.indptr.append(len(self.ids))

    def part(self) -> tuple[sp.csr_matrix, list[str]]:
        """(rows x local terms term frequencies, the terms in column order): a part for BM25Index.from_postings."""
        cols = np.frombuffer(self.ids, dtype=np.int32).copy() if len(self.ids) else np.zeros(0, dtype=np.int32)
        indptr = np.frombuffer(self.indptr, dtype=np.int64).copy()
        tf = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols, indptr),
                           shape=(indptr.size - 1, max(len(self.vocab), 1)))
        tf.sum_duplicates()
        if not tf.nnz or tf.data.max() <= np.iinfo(np.uint16).max:  # counts as uint16: a quarter less memory
            tf.data = tf.data.astype(np.uint16)
        return tf, list(self.vocab)


def join_postings(
    parts: list[tuple[sp.csr_matrix, list[str]]], keep: np.ndarray | None, new: tuple[sp.csr_matrix, list[str]]
) -> list[tuple[sp.csr_matrix, list[str]]]:
    """An older reader's term-frequency parts with only the rows `keep` marks (its rows in order), then the rows
    read since: the parts of the newer reader, joined into one when there would be more than MAX_POSTING_PARTS."""
    out, lo = [], 0
    for tf, terms in parts:
        hi = lo + tf.shape[0]
        mask = keep[lo:hi]
        kept = tf if mask.all() else tf[mask]
        if kept.shape[0]:
            out.append((kept, terms))
        lo = hi
    if new[0].shape[0] or not out:
        out.append(new)
    if len(out) <= MAX_POSTING_PARTS:
        return out
    tf, terms = stack_postings(out)
    tf.sort_indices()
    return [(tf, terms)]
