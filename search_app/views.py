"""What templates need of results and filters: safe HTML passages, links, labels.

Shared by the search page, the similar-passages page and the document view, so a
result looks and links the same everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup

from indexer import official
from indexer.filters import Filters
from indexer.models import SearchResult
from search_app import highlight
from search_app.params import DOC_TYPE_LABELS


@dataclass
class ResultView:
    """One hit, ready to render; the passage is already safe HTML."""

    rank: int
    title: str
    heading_path: list[str]
    passage: Markup
    score: str
    doc_id: str
    chunk_id: str
    page: int | None
    date: str
    type_label: str
    doc_url: str  # the document view scrolled to this passage, query terms marked
    similar_url: str
    permalink: str  # the stable address of the passage: document view + anchor
    ocr: str = ""  # "识别文本" when the passage was read by OCR from a scanned page; its confidence in `ocr_title`
    ocr_title: str = ""
    official: str = ""  # "国务院 · 国发〔2024〕1号" for an official document (GB/T 9704 fields)
    read_only: bool = False  # of a read-only collection: no copy-permalink button (search_app.scope)
    best_line: Markup | None = None  # the best sentence on its own line, so it shows whatever is marked
    similarity: str = ""
    weak: bool = False
    more_in_doc: int = 0
    more_url: str = ""  # grouped results: this document's other matching passages


def format_score(score: float) -> str:
    """Scores differ by mode (RRF ~0.03, cosine ~0.8, BM25 ~12): keep 4 significant digits."""
    return f"{score:.4g}"


def date_of(meta: dict) -> str:
    for key in ("date", "year"):
        if meta.get(key):
            return str(meta[key])
    return ""


def type_label(doc_type: object) -> str:
    return DOC_TYPE_LABELS.get(str(doc_type or ""), str(doc_type or ""))


def ocr_mark(meta: dict, page: int | None) -> tuple[str, str]:
    """("识别文本", "扫描页 OCR 识别，置信度 93%") for a passage on a page read by OCR; ("", "") otherwise."""
    confidence = (meta.get("ocr_pages") or {}).get(str(page)) if page else None
    if confidence is None:
        return "", ""
    return "识别文本", f"第 {page} 页为扫描页，文字由 OCR 识别，置信度 {float(confidence):.0f}%"


def official_rows(meta: dict) -> list[tuple[str, str]]:
    """(label, value) of an official document's GB/T 9704 fields for the document view, in the standard's order."""
    rows = []
    for key in official.FIELDS:
        value = (meta or {}).get(key)
        if value:
            rows.append((official.LABELS[key], "；".join(value) if isinstance(value, list) else str(value)))
    return rows


def issuer_choices(documents: list[dict]) -> list[str]:
    """The issuing bodies in the index, for the filter's suggestions (a joint document adds each)."""
    return sorted({body for d in documents for body in official.issuers_of(d.get("meta") or {})})


def chunk_anchor(chunk_id: str) -> str:
    """A fragment id for a passage: `p<ordinal>` for `doc#ordinal` ids, else a short hash (always a valid id)."""
    _, sep, tail = chunk_id.rpartition("#")
    if sep and tail.isascii() and tail.isdigit():
        return f"p{int(tail)}"
    return "p-" + hashlib.sha1(chunk_id.encode("utf-8")).hexdigest()[:12]


def doc_url(doc_id: str, chunk_id: str | None = None, q: str | None = None) -> str:
    args: dict = {}
    if chunk_id:
        args["hit"] = chunk_id
        args["_anchor"] = chunk_anchor(chunk_id)
    if q:
        args["q"] = q
    return url_for("pages.document", doc_id=doc_id, **args)


def permalink(doc_id: str, chunk_id: str) -> str:
    return url_for("pages.document", doc_id=doc_id, _anchor=chunk_anchor(chunk_id))


def result_view(r: SearchResult, terms: tuple[str, ...], q: str | None = None) -> ResultView:
    best = (
        (r.best_sentence_start, r.best_sentence_end) if r.best_sentence_end > r.best_sentence_start else None
    )
    meta = r.meta or {}
    ocr, ocr_title = ocr_mark(meta, r.page)
    return ResultView(
        rank=r.rank,
        title=r.title,
        heading_path=[h for h in r.heading_path if h],
        passage=highlight.highlight(r.text, terms, best),
        score=format_score(r.score),
        doc_id=r.doc_id,
        chunk_id=r.chunk_id,
        page=r.page,
        date=date_of(meta),
        type_label=type_label(meta.get("type")),
        doc_url=doc_url(r.doc_id, r.chunk_id, q),
        similar_url=url_for("pages.similar", chunk_id=r.chunk_id),
        permalink=permalink(r.doc_id, r.chunk_id),
        ocr=ocr,
        ocr_title=ocr_title,
        official=" · ".join(str(meta[k]) for k in ("issuer", "doc_number") if meta.get(k)),
        best_line=highlight.highlight(r.best_sentence, terms) if best and r.best_sentence != r.text else None,
        similarity=f"{r.similarity:.3f}" if r.similarity is not None else "",
        weak=r.weak,
        more_in_doc=r.more_in_doc,
    )


def filter_args(filters: Filters) -> dict:
    """URL parameters that reproduce `filters` (lists become repeated parameters)."""
    args: dict = {}
    if filters.year_from:
        args["year_from"] = filters.year_from
    if filters.year_to:
        args["year_to"] = filters.year_to
    if filters.doc_types:
        args["type"] = list(filters.doc_types)
    if filters.doc_ids:
        args["doc"] = list(filters.doc_ids)
    if filters.issuers:
        args["issuer"] = list(filters.issuers)
    if filters.number_years:
        args["doc_number_year"] = list(filters.number_years)
    if filters.collections:
        args["collections"] = list(filters.collections)
    return args


def type_choices(documents: list[dict]) -> list[tuple[str, str]]:
    """(value, label) for the types present in the index, in the vocabulary's order first."""
    present = {str((d.get("meta") or {}).get("type") or "") for d in documents} - {""}
    order = [t for t in DOC_TYPE_LABELS if t in present] + sorted(present - set(DOC_TYPE_LABELS))
    return [(t, type_label(t)) for t in order]
