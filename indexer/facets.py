"""Counts over a set of matching passages: total, by year, type and document, and a year timeline.

Everything is computed from row arrays the index version keeps in memory (row -> document,
document -> year/type), so counting a whole-index match set costs a few numpy passes. The set
passed in is already restricted by every filter, including a caller's allowed-documents set, so
counts never reveal what the caller may not see.
"""

from __future__ import annotations

import numpy as np

MAX_DOCUMENT_FACETS = 200


def _pairs(values: np.ndarray, counts: np.ndarray) -> list[tuple[int, int]]:
    return [(int(v), int(c)) for v, c in zip(values.tolist(), counts.tolist()) if c]


def counts(version, rows: np.ndarray) -> dict:
    """`total`, `documents_total`, `facets` for the passages at `rows` (unique row numbers)."""
    rows = np.asarray(rows, dtype=np.int64)
    docs = version.row_doc[rows] if rows.size else np.zeros(0, dtype=np.int32)
    per_doc = np.bincount(docs, minlength=len(version.doc_ids)) if docs.size else np.zeros(len(version.doc_ids))
    years = version.doc_year[docs] if docs.size else np.zeros(0, dtype=np.int32)
    year_values, year_counts = np.unique(years, return_counts=True)
    by_year = [{"value": y or None, "count": c} for y, c in _pairs(year_values, year_counts)]
    by_year.sort(key=lambda f: (f["value"] is None, -(f["value"] or 0)))
    by_type: dict[str, int] = {}
    for d in np.flatnonzero(per_doc).tolist():
        t = version.doc_type[d] or "other"
        by_type[t] = by_type.get(t, 0) + int(per_doc[d])
    hit_docs = np.flatnonzero(per_doc)
    order = sorted(hit_docs.tolist(), key=lambda d: (-int(per_doc[d]), -int(version.doc_year[d]), d))
    by_doc = [
        {
            "value": version.doc_ids[d],
            "title": version.doc_titles[d],
            "year": int(version.doc_year[d]) or None,
            "count": int(per_doc[d]),
        }
        for d in order[:MAX_DOCUMENT_FACETS]
    ]
    return {
        "total": int(rows.size),
        "documents_total": int(hit_docs.size),
        "facets": {
            "year": by_year,
            "type": [{"value": t, "count": c} for t, c in sorted(by_type.items(), key=lambda kv: -kv[1])],
            "document": by_doc,
        },
    }


def timeline(version, rows: np.ndarray, span_rows: np.ndarray | None = None) -> dict:
    """Matching passages per year, every year from the first to the last (zeros included).

    `span_rows`: for a phrase, the passages holding it regardless of the year filter, so the
    first and last year the phrase occurs are shown even when the filter hides them.
    """
    rows = np.asarray(rows, dtype=np.int64)
    years = version.doc_year[version.row_doc[rows]] if rows.size else np.zeros(0, dtype=np.int32)
    years = years[years > 0]
    out: dict = {"years": [], "first_year": None, "last_year": None, "undated": int(rows.size - years.size)}
    if years.size:
        lo, hi = int(years.min()), int(years.max())
        per = np.bincount(years - lo, minlength=hi - lo + 1)
        out.update(
            years=[{"year": lo + i, "count": int(c)} for i, c in enumerate(per.tolist())],
            first_year=lo,
            last_year=hi,
        )
    if span_rows is not None:
        span = np.asarray(span_rows, dtype=np.int64)
        sy = version.doc_year[version.row_doc[span]] if span.size else np.zeros(0, dtype=np.int32)
        sy = sy[sy > 0]
        out["phrase_first_year"] = int(sy.min()) if sy.size else None
        out["phrase_last_year"] = int(sy.max()) if sy.size else None
    return out
