"""HTML pages: search (with filters and paging), document view, similar passages, CSV export.

Everything lives in the URL (`/?q=&mode=&size=&page=&year_from=&year_to=&type=&doc=`), so
a result list, a page of it or a passage can be shared as a link. Every page works
without JavaScript; the only script adds "copy link" buttons.
"""

from __future__ import annotations

import io
from urllib.parse import quote

from flask import Blueprint, Response, abort, render_template, request, url_for

from indexer import retrieval
from indexer.access import collections_of
from indexer.errors import QueryError, SearchEngineError
from indexer.filters import Filters
from indexer.models import SearchResponse
from search_app import docview, highlight, messages, output, params, research
from search_app.state import current_engine, current_settings, holder
from search_app.views import (
    date_of,
    doc_url,
    filter_args,
    issuer_choices,
    official_rows,
    permalink,
    result_view,
    type_choices,
    type_label,
)

bp = Blueprint("pages", __name__)

MODE_LABELS = {"hybrid": "混合", "dense": "语义", "lexical": "关键词"}
MODE_HINTS = {"hybrid": "语义与关键词结合", "dense": "按意思匹配", "lexical": "按字词匹配"}
SIZE_CHOICES = (10, 20, 50)


def _modes() -> list[tuple[str, str, str]]:
    order = [m for m in ("hybrid", "dense", "lexical") if m in retrieval.MODES]
    order += [m for m in retrieval.MODES if m not in order]
    return [(m, MODE_LABELS.get(m, m), MODE_HINTS.get(m, "")) for m in order]


def _size_choices(size: int, max_size: int) -> list[int]:
    return sorted({c for c in SIZE_CHOICES if c <= max_size} | {size})


def _engine_and_documents():
    """The engine and its documents (for the filter controls); (None, []) when the index cannot be
    opened, so the home page still renders and a search reports why."""
    try:
        engine = current_engine()
        return engine, engine.documents()
    except SearchEngineError:
        return None, []


def _collection_choices(documents: list[dict]) -> list[str]:
    """The collections the reader can see documents of, for the selector (shown when there are several)."""
    return sorted({c for d in documents for c in collections_of(d.get("meta"))})


def _search_args(q: str, mode: str, size: int, filters: Filters, options=None) -> dict:
    """URL parameters that reproduce a search (first page)."""
    args = {"q": q, "mode": mode, "size": size, **filter_args(filters)}
    if options is not None and options.sort != "relevance":
        args["sort"] = options.sort
    if options is not None and options.group:
        args["group"] = 1
    return args


def _terms(response: SearchResponse, engine) -> tuple[str, ...]:
    """What to mark in passages: the query's phrases whole, and its informative words."""
    parsed = response.parsed or {}
    text = parsed.get("text", response.query)
    phrases = tuple(parsed.get("phrases", ())) + tuple(m for g in parsed.get("any_of", ()) for m in g)
    phrases += _added_terms(response)
    min_idf = current_settings().highlight_min_idf
    return highlight.informative_terms(text, getattr(engine, "term_idf", None), phrases, min_idf)


def _added_terms(response: SearchResponse) -> tuple[str, ...]:
    """Terms hybrid ranking looked for besides the question's words (official wording, an English question's
    Chinese terms): marked in passages too, so the reader sees why a passage with none of their words came up."""
    expanded = response.expanded or {}
    official = tuple(t for item in expanded.get("official_terms", ()) for t in item["terms"])
    return official + tuple(expanded.get("chinese_terms", ()))


def _research_ctx(response: SearchResponse, here: dict, options, paging, settings) -> dict:
    """Counts, facets, timeline, sort and group links, the weak-match notice, the pager's page count."""
    total = response.total
    listed = min(total, settings.max_k) if total is not None else None
    pages = -(-listed // paging.size) if listed else None
    details = request.args.get("details") == "1"
    return {
        "facet_links": research.facet_links(response, here) if total else {},
        "timeline": research.timeline_svg(response, here),
        "timeline_caption": research.caption(response),
        "sort_links": research.sort_links(here, options.sort),
        "group_url": research.group_link(here, options.group),
        "grouped": options.group,
        "sort": options.sort,
        "understood": (response.parsed or {}).get("understood", ""),
        "query_notes": [n["zh"] for n in (response.parsed or {}).get("notes", [])],
        "expanded": response.expanded or {},
        "total_pages": pages,
        "show_details": details,
        "details_url": url_for("pages.search", **here, **({} if details else {"details": 1})),
    }


def _page_url(args: dict, page: int) -> str:
    """Page 1 has no `page` parameter, so its URL is the search's own."""
    return url_for("pages.search", **args, **({"page": page} if page > 1 else {}))


def _form_state(settings, documents: list[dict]) -> dict:
    """Form values straight from the URL, so a rejected request shows what was typed."""
    args = request.args
    raw_mode = args.get("mode") or settings.default_mode
    max_size = max(1, min(settings.max_page_size, settings.max_k))
    raw_size = (args.get("size") or args.get("k") or "").strip()
    size = int(raw_size) if raw_size.isascii() and raw_size.isdigit() and 1 <= int(raw_size) <= max_size else None
    size = size or min(settings.default_k, max_size)
    return {
        "q": args.get("q") or "",
        "mode": raw_mode if raw_mode in retrieval.MODES else settings.default_mode,
        "size": size,
        "size_choices": _size_choices(size, max_size),
        "year_from": args.get("year_from", "").strip(),
        "year_to": args.get("year_to", "").strip(),
        "types": set(params.split_values(args.getlist("type"), split_commas=True)),
        "docs": {d for d in args.getlist("doc") if d.strip()},
        "chosen_collections": set(params.split_values(args.getlist("collections"), split_commas=True)),
        "collection_choices": _collection_choices(documents),
        "type_choices": type_choices(documents),
        "documents": documents,
        "issuer": args.get("issuer", "").strip(),
        "doc_number_year": args.get("doc_number_year", "").strip(),
        "issuer_choices": issuer_choices(documents),
        "document_groups": research.document_groups(documents),
    }


def _result_views(engine, results, terms: tuple[str, ...], q: str | None = None) -> list:
    """Results ready to render; those of read-only collections lose their copy-permalink button."""
    views = [result_view(r, terms, q) for r in results]
    for view, r in zip(views, results):
        view.read_only = engine.is_read_only(r.meta)
    return views


def _empty_page(settings, documents) -> dict:
    """The template's context before any search: the form as submitted, no results."""
    return {
        **_form_state(settings, documents),
        "modes": _modes(),
        "mode_labels": MODE_LABELS,
        "max_query_chars": settings.max_query_chars,
        "year_min": params.YEAR_MIN,
        "year_max": params.YEAR_MAX,
        "response": None,
        "results": [],
        "error": None,
        "notice": None,
        "paging": None,
    }


def _loading_page(q: str | None):
    """The page while the server warms up: says so, and reloads itself every 2 seconds."""
    html = render_template("loading.html", q=q or "")
    return html, 503, {"Retry-After": "2", "Cache-Control": "no-store"}


@bp.get("/")
def search():
    settings = current_settings()
    q = request.args.get("q")
    if holder().starting:  # the warm-up holds the engine: answer at once instead of waiting behind it
        return _loading_page(q)
    engine, documents = _engine_and_documents()
    ctx = _empty_page(settings, documents)
    ctx["filters_open"] = bool(
        ctx["year_from"] or ctx["year_to"] or ctx["types"] or ctx["docs"] or ctx["issuer"] or ctx["doc_number_year"]
    )
    if q is None:
        return render_template("search.html", **ctx)
    if not q.strip():
        ctx["notice"] = "请输入要搜索的内容，例如：乡村振兴、高质量发展、减税降费。"
        return render_template("search.html", **ctx)
    try:
        paging = params.parse_paging(request.args, settings)
        p = params.validate(q, paging.k, params.parse_mode(request.args.get("mode"), settings), settings)
        filters = params.filters_from_args(request.args)
        options = params.options_from_args(request.args, settings, offset=paging.offset)
        engine = engine or current_engine()  # raises the reason the index cannot be opened (503)
        params.check_known(filters, documents)
    except QueryError as exc:
        ctx["error"], ctx["error_en"] = messages.zh(str(exc)), str(exc)
        return render_template("search.html", **ctx), 400
    # One extra result tells whether a next page exists.
    fetch = min(paging.size + 1, settings.max_k - paging.offset)
    response: SearchResponse = engine.search(p.query, k=fetch, mode=p.mode, filters=filters, options=options)
    shown = response.results[: paging.size]
    here = _search_args(p.query, p.mode, paging.size, filters, options)
    more = len(response.results) > paging.size and paging.offset + paging.size < settings.max_k
    ctx.update(
        q=p.query,
        mode=p.mode,
        size=paging.size,
        response=response,
        results=_result_views(engine, shown, _terms(response, engine), p.query),
        may_export=engine.may_export(filters),
        paging=paging,
        filtered=params.is_filtered(filters),
        mode_links=[
            (label, url_for("pages.search", **{**here, "mode": value}))
            for value, label, _ in _modes()
            if value != p.mode
        ],
        prev_url=_page_url(here, paging.page - 1) if paging.page > 1 else None,
        next_url=_page_url(here, paging.page + 1) if more else None,
        first_url=url_for("pages.search", **here),
        export_url=url_for("pages.export_csv", **here, page=paging.page),
        export_all_url=url_for("pages.export_csv", **here, all=1),
        max_k=settings.max_k,
        **_research_ctx(response, here, options, paging, settings),
    )
    for view in ctx["results"]:
        if view.more_in_doc:
            view.more_url = research.doc_filter_url(here, view.doc_id)
    return render_template("search.html", **ctx)


@bp.get("/export.csv")
def export_csv():
    """The page's results as CSV (same columns as the batch CLI), with a BOM so Excel reads the Chinese.

    Same parameters as the search page: the rows of that page, or with `all=1` the top max_k.
    """
    settings = current_settings()
    engine = current_engine()
    paging = params.parse_paging(request.args, settings)
    everything = request.args.get("all") == "1"
    k = settings.max_k if everything else paging.size
    p = params.validate(request.args.get("q", ""), k, params.parse_mode(request.args.get("mode"), settings), settings)
    filters = params.filters_from_args(request.args)
    options = params.options_from_args(request.args, settings, offset=0 if everything else paging.offset)
    params.check_known(filters, engine.documents())
    response = engine.search(p.query, k=k, mode=p.mode, filters=filters, options=options)
    response.results = engine.exportable(response.results)  # read-only collections: read on screen, never exported
    buffer = io.StringIO()
    buffer.write("\ufeff")
    output.write_csv([response], buffer, link_base=request.url_root)
    suffix = f"-前{settings.max_k}条" if everything else f"-第{paging.page}页"
    name = output.csv_name(p.query, suffix=suffix)
    ascii_name = "policy-search" + ("-all" if everything else f"-page{paging.page}") + ".csv"
    return Response(
        buffer.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
            "Cache-Control": "no-store",
        },
    )


def _check_id(value: str, what: str) -> None:
    """Ids are only ever looked up in the index; an absurd one is refused before any lookup."""
    if len(value) > params.MAX_ID_CHARS:
        abort(400, description=f"{what} is {len(value)} characters long; ids are at most {params.MAX_ID_CHARS}")


@bp.get("/doc/<doc_id>")
def document(doc_id: str):
    """The whole document, passage by passage; `?hit=<chunk_id>` highlights one, `#p<n>` scrolls to it."""
    _check_id(doc_id, "document id")
    engine = current_engine()
    doc = engine.document(doc_id)
    if doc is None:
        abort(404, description="没有找到这篇文档：它可能已被删除，或链接有误。")
    settings = current_settings()
    hit = request.args.get("hit") or None
    if hit is not None and len(hit) > params.MAX_ID_CHARS:
        hit = None
    q = (request.args.get("q") or "").strip()
    terms = highlight.query_terms(q) if q and len(q) <= settings.max_query_chars else ()
    chunks = engine.chunks_of(doc_id)
    hit_chunk = next((c for c in chunks if c.chunk_id == hit), None)
    meta = doc.meta or {}
    return render_template(
        "document.html",
        doc=doc,
        q=q if terms else "",
        segments=docview.segments(doc.text, chunks, hit, terms, meta),
        official_fields=official_rows(meta),
        outline=docview.outline(chunks, hit),
        n_chunks=len(chunks),
        hit=hit_chunk,
        date=date_of(meta),
        type_label=type_label(meta.get("type")),
        source=docview.display_source(meta.get("source")),
        hit_similar_url=url_for("pages.similar", chunk_id=hit_chunk.chunk_id) if hit_chunk else None,
        hit_permalink=permalink(doc.doc_id, hit_chunk.chunk_id) if hit_chunk else None,
        read_only=engine.is_read_only(meta),
    )


@bp.get("/similar/<chunk_id>")
def similar(chunk_id: str):
    """Passages closest in meaning to one passage (`?k=` and the search filters apply)."""
    _check_id(chunk_id, "passage id")
    settings = current_settings()
    engine = current_engine()
    try:
        k = params.checked_k(request.args.get("k"), settings)
        filters = params.filters_from_args(request.args)
    except QueryError as exc:
        abort(400, description=str(exc))
    same = request.args.get("same_document") == "1"
    response = engine.similar(chunk_id, k=k, filters=filters, same_document=same)
    if response is None:
        abort(404, description="没有找到这个段落：索引更新后它可能已不存在。")
    doc_id = chunk_id.rpartition("#")[0]
    source = next((c for c in engine.chunks_of(doc_id) if c.chunk_id == chunk_id), None) if doc_id else None
    return render_template(
        "similar.html",
        response=response,
        source=source,
        source_url=doc_url(source.doc_id, source.chunk_id) if source else None,
        results=_result_views(engine, response.results, ()),
        k=k,
        same_document=same,
        switch_url=url_for("pages.similar", chunk_id=chunk_id, **({} if same else {"same_document": 1})),
    )
