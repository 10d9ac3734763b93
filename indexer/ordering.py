"""How a relevance ranking becomes the list a reader sees: by date or by relevance, one passage per document, a
passage's neighbours spread over documents and years, and the document a query names by its 发文字号 first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer import official
from indexer.backend import IndexReader
from indexer.errors import QueryError

SORTS = ("relevance", "newest", "oldest")


@dataclass(frozen=True)
class SearchOptions:
    """How a result list is ordered and paged (the query itself says what matches)."""

    sort: str = "relevance"  # relevance | newest | oldest
    group: bool = False  # one passage per document, with the number of further ones
    offset: int = 0  # results skipped (paging)

    def __post_init__(self) -> None:
        if self.sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {self.sort!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise QueryError(f"offset must be a non-negative integer, got {self.offset!r}")


def order_by(version, ranked: list[tuple[int, float]], matched: np.ndarray, sort: str) -> list[tuple[int, float]]:
    """Relevance: the ranking as is. By date: the match set (or the ranking when it is empty) by year,
    ties by relevance; undated documents last."""
    if sort == "relevance":
        return ranked
    score = dict(ranked)
    rows = matched.tolist() if matched.size else [r for r, _ in ranked]
    years = version.doc_year[version.row_doc[np.asarray(rows, dtype=np.int64)]].tolist() if rows else []
    sign = -1 if sort == "newest" else 1
    keyed = sorted(
        zip(rows, years),
        key=lambda ry: (ry[1] <= 0, sign * ry[1], -score.get(ry[0], float("-inf")), ry[0]),
    )
    return [(r, score.get(r, 0.0)) for r, _ in keyed]


def group_by_document(version, ordered: list[tuple[int, float]], matched: np.ndarray):
    """First passage of each document in order, and how many more matching passages each document has."""
    seen: set[int] = set()
    out = []
    for row, score in ordered:
        d = int(version.row_doc[row])
        if d not in seen:
            seen.add(d)
            out.append((row, score))
    per_doc = np.bincount(version.row_doc[matched], minlength=len(version.doc_ids)) if matched.size else None
    more = {}
    for row, _ in out:
        d = int(version.row_doc[row])
        n = int(per_doc[d]) if per_doc is not None else 0
        more[version.doc_ids[d]] = max(0, n - 1)
    return out, more


def spread_neighbours(version, ranked: list[tuple[int, float]], own_doc: int, k: int) -> list[tuple[int, float]]:
    """k of the ranked neighbours: first one per other document in years not yet taken, then one per
    other document, then any other document, then the source's own; shown best first."""
    year_of = version.doc_year
    own_year = int(year_of[own_doc])
    picked: list[tuple[int, float]] = []
    docs: set[int] = set()
    years: set[int] = {own_year} if own_year else set()
    passes = (
        lambda d, y: d != own_doc and d not in docs and (y <= 0 or y not in years),
        lambda d, y: d != own_doc and d not in docs,
        lambda d, y: d != own_doc,
        lambda d, y: True,
    )
    for ok in passes:
        for row, score in ranked:
            if len(picked) >= k:
                break
            d = int(version.row_doc[row])
            y = int(year_of[d])
            if (row, score) not in picked and ok(d, y):
                picked.append((row, score))
                docs.add(d)
                years.add(y)
    return sorted(picked, key=lambda p: -p[1])


def doc_number_first(version: IndexReader, query: str, ranked: list, allowed, k: int) -> list:
    """A query naming a 发文字号 ("国发〔2024〕1号", any brackets) puts that document's header passage first.

    The number is an identifier, not words: BM25 splits it into 国发/2024/1 and the
    model reads it as noise, so the document it names can rank anywhere. Its first
    passage that holds the number (else its first passage) is ranked above the rest.
    """
    wanted = official.parse_number(query)
    if wanted is None:
        return ranked
    docs = [
        i
        for i, meta in enumerate(version.doc_meta)
        if (own := official.parse_number(str(meta.get("doc_number") or ""))) and own.matches(wanted)
    ]
    first: list[int] = []
    for doc_index in docs:
        rows = [int(r) for r in np.flatnonzero(version.row_doc == doc_index)[:8]]
        rows = [r for r in rows if allowed is None or allowed[r]]
        holding = [r for r, c in zip(rows, version.chunks_at(rows)) if wanted.matches(_number_in(c.text))]
        first.extend((holding or rows)[:1])
    if not first:
        return ranked
    top = max((score for _, score in ranked), default=1.0)
    boosted = [(row, round(top + 1.0 - 0.001 * i, 6)) for i, row in enumerate(first)]
    return (boosted + [(row, score) for row, score in ranked if row not in set(first)])[:k]


def _number_in(text: str) -> official.DocNumber:
    return official.parse_number(text) or official.DocNumber("", 0, 0)
