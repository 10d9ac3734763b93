"""JSON API under /api: the same SearchResponse objects as the batch CLI writes.

Every bad input is a 400 `{"error": reason}`; validation goes through
`search_app.params`, hence through `indexer.retrieval.validate_request`.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from indexer.errors import QueryError
from search_app import lanes, params
from search_app.auth import require_admin
from search_app.health import health_report
from search_app.state import current_engine, current_settings, holder

bp = Blueprint("api", __name__)


@bp.get("/search")
def search():
    """`GET /api/search?q=...&k=10&mode=hybrid[&year_from=&year_to=&type=&doc=][&sort=&group=&offset=]`.

    The query language (phrases, -exclusions, OR, year:/type:) is read by indexer.query; the response
    carries `total`, `facets`, `timeline`, `parsed` (how the query was understood) and `weak`.
    """
    settings = current_settings()
    p = params.from_args(request.args, settings)
    filters = params.filters_from_args(request.args)
    options = params.options_from_args(request.args, settings)
    engine = current_engine()
    params.check_against(filters, engine)
    return jsonify(engine.search(p.query, k=p.k, mode=p.mode, filters=filters, options=options).to_dict())


@bp.post("/search/batch")
def search_batch():
    """`POST {"queries": [...], "k": 10, "mode": "hybrid"}` -> one response per query, one embedding batch.

    The body may carry the same filters as the URL: "year_from", "year_to", "type", "doc".
    """
    settings = current_settings()
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise QueryError('the request body is not valid JSON; send {"queries": ["..."], "k": 10}')
    queries, k, mode = params.from_batch_body(body, settings)
    lanes.check_batch_size(len(queries), k, settings)
    filters = params.filters_from_args(body)
    options = params.options_from_args(body, settings)
    engine = current_engine()
    params.check_against(filters, engine)
    with lanes.batch_slot():  # the batch lane: few at a time, giving way to interactive requests
        responses = engine.search_many(queries, k=k, mode=mode, filters=filters, options=options)
    answer = jsonify(results=[r.to_dict() for r in responses])
    lanes.check_response_size(answer.calculate_content_length() or 0, settings)
    return answer


@bp.get("/similar")
def similar():
    """`GET /api/similar?chunk_id=..&k=10[&filters]` -> passages closest in meaning (the passage itself excluded)."""
    settings = current_settings()
    chunk_id = request.args.get("chunk_id", "")
    if not chunk_id.strip():
        raise QueryError("chunk_id is required, e.g. /api/similar?chunk_id=<doc_id>%230")
    if len(chunk_id) > params.MAX_ID_CHARS:
        raise QueryError(f"chunk_id is {len(chunk_id)} characters long; ids are at most {params.MAX_ID_CHARS}")
    k = params.checked_k(request.args.get("k"), settings)
    filters = params.filters_from_args(request.args)
    same = params.parse_flag(request.args.get("same_document"), "same_document")
    engine = current_engine()
    params.check_against(filters, engine)
    response = engine.similar(chunk_id, k=k, filters=filters, same_document=same)
    if response is None:
        abort(404, description=f"no passage {chunk_id!r} in the index")
    return jsonify(response.to_dict())


@bp.get("/documents")
def documents():
    return jsonify(documents=current_engine().documents())


@bp.get("/health")
def health():
    """`ok`, `degraded` (with the reason), `no_index` or `unavailable`: see search_app.health; `starting`
    (503) while the server warms up: model loading, first query not run yet."""
    if holder().starting:
        return jsonify(status="starting", message="正在加载模型和索引，请稍候"), 503, {"Retry-After": "2"}
    body, status = health_report(current_engine)
    return jsonify(body), status


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API (search_app.openapi)."""
    from search_app.openapi import build_spec

    return jsonify(build_spec(current_settings()))


@bp.post("/reload")
def reload():
    """Re-open the newest index version now (admin token needed, like every admin endpoint)."""
    require_admin()
    h = holder()
    if h.opened:
        engine = h.get(refresh=False)
        engine.reload()
    else:
        engine = h.get(refresh=False)  # first open is a fresh load already
    return jsonify(reloaded=True, health=engine.health())
