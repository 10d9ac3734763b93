"""HTML search page. Everything lives in the URL (`/?q=&k=&mode=`) so a result list can be shared."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from markupsafe import Markup

from indexer import retrieval
from indexer.errors import QueryError
from indexer.models import SearchResponse, SearchResult
from search_app import highlight, params
from search_app.state import current_engine, current_settings

bp = Blueprint("pages", __name__)

MODE_LABELS = {"hybrid": "混合", "dense": "语义", "lexical": "关键词"}
MODE_HINTS = {"hybrid": "语义与关键词结合", "dense": "按意思匹配", "lexical": "按字词匹配"}
K_CHOICES = (5, 10, 20, 50, 100)


@dataclass
class ResultView:
    """What the template needs of one hit; the passage is already safe HTML."""

    rank: int
    title: str
    heading_path: list[str]
    passage: Markup
    score: str
    doc_id: str
    chunk_id: str
    page: int | None
    date: str


def format_score(score: float) -> str:
    """Scores differ by mode (RRF ~0.03, cosine ~0.8, BM25 ~12): keep 4 significant digits."""
    return f"{score:.4g}"


def _date_of(meta: dict) -> str:
    for key in ("date", "year"):
        if meta.get(key):
            return str(meta[key])
    return ""


def result_view(r: SearchResult, terms: tuple[str, ...]) -> ResultView:
    best = (
        (r.best_sentence_start, r.best_sentence_end) if r.best_sentence_end > r.best_sentence_start else None
    )
    return ResultView(
        rank=r.rank,
        title=r.title,
        heading_path=[h for h in r.heading_path if h],
        passage=highlight.highlight(r.text, terms, best),
        score=format_score(r.score),
        doc_id=r.doc_id,
        chunk_id=r.chunk_id,
        page=r.page,
        date=_date_of(r.meta or {}),
    )


def _modes() -> list[tuple[str, str, str]]:
    order = [m for m in ("hybrid", "dense", "lexical") if m in retrieval.MODES]
    order += [m for m in retrieval.MODES if m not in order]
    return [(m, MODE_LABELS.get(m, m), MODE_HINTS.get(m, "")) for m in order]


def _k_choices(k: int, max_k: int) -> list[int]:
    return sorted({c for c in K_CHOICES if c <= max_k} | {k})


@bp.get("/")
def search():
    settings = current_settings()
    q = request.args.get("q")
    raw_mode = request.args.get("mode") or settings.default_mode
    raw_k = request.args.get("k", "")
    ctx = {
        "q": q or "",
        "mode": raw_mode if raw_mode in retrieval.MODES else settings.default_mode,
        "k": settings.default_k,
        "modes": _modes(),
        "mode_labels": MODE_LABELS,
        "max_query_chars": settings.max_query_chars,
        "response": None,
        "results": [],
        "error": None,
        "notice": None,
    }
    ctx["k_choices"] = _k_choices(settings.default_k, settings.max_k)
    if raw_k.strip().isdigit() and 1 <= int(raw_k) <= settings.max_k:
        ctx["k"] = int(raw_k)
        ctx["k_choices"] = _k_choices(ctx["k"], settings.max_k)
    if q is None:
        return render_template("search.html", **ctx)
    if not q.strip():
        ctx["notice"] = "请输入要搜索的内容，例如：乡村振兴、高质量发展、减税降费。"
        return render_template("search.html", **ctx)
    try:
        p = params.from_args(request.args, settings)
    except QueryError as exc:
        ctx["error"] = str(exc)
        return render_template("search.html", **ctx), 400
    response: SearchResponse = current_engine().search(p.query, k=p.k, mode=p.mode)
    terms = highlight.query_terms(response.query)
    ctx.update(
        q=p.query,
        k=p.k,
        mode=p.mode,
        k_choices=_k_choices(p.k, settings.max_k),
        response=response,
        results=[result_view(r, terms) for r in response.results],
    )
    return render_template("search.html", **ctx)
