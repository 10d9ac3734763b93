"""What a request may see and has chosen to see: the filters a search, a listing and a similar-passages call share.

Access (the collections a reader may read) travels with the reader's own choices, so every path that narrows rows
narrows them the same way (indexer.access).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer import access, official
from indexer.backend import IndexReader


@dataclass(frozen=True)
class Filters:
    """A request's filters and the reader's access; empty fields do not filter."""

    doc_ids: tuple[str, ...] = ()
    year_from: int | None = None
    year_to: int | None = None
    doc_types: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()  # the collections the reader chose (empty: all it may read)
    readable: frozenset[str] | None = None  # access: collections the reader may read (None: no limit)
    # Official-document fields (indexer.official): issuing body (substring of 发文机关), year of the 发文字号.
    issuers: tuple[str, ...] = ()
    number_years: tuple[int, ...] = ()

    def scope(self) -> access.Scope:
        """The collections this request sees: its access narrowed by its choice (indexer.access)."""
        return access.narrow(self.readable, self.collections)

    def narrowed_doc_ids(self, version: IndexReader) -> tuple[str, ...]:
        """The document filter narrowed by the official-document fields (a never-matching id when none pass)."""
        if not (self.issuers or self.number_years):
            return self.doc_ids
        passing = {
            doc_id
            for doc_id, meta in zip(version.doc_ids, version.doc_meta)
            if official.matches_filter(meta, self.issuers, self.number_years)
        }
        narrowed = tuple(d for d in self.doc_ids if d in passing) if self.doc_ids else tuple(sorted(passing))
        return narrowed or ("~none~",)  # no real id holds a "~" (documents.safe_doc_id)


def and_masks(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Both row masks at once (None: every row)."""
    if a is None:
        return b
    return a if b is None else a & b
