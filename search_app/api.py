"""JSON API under /api: the same SearchResponse objects as the batch CLI writes.

Every bad input is a 400 `{"error": reason}`; validation goes through
`search_app.params`, hence through `indexer.retrieval.validate_request`.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, jsonify, request

from indexer.errors import IndexNotFoundError, QueryError
from search_app import params
from search_app.errors import message_of
from search_app.state import current_engine, current_settings, holder

bp = Blueprint("api", __name__)


@bp.get("/search")
def search():
    """`GET /api/search?q=...&k=10&mode=hybrid` -> SearchResponse.to_dict()."""
    settings = current_settings()
    p = params.from_args(request.args, settings)
    engine = current_engine()
    return jsonify(engine.search(p.query, k=p.k, mode=p.mode).to_dict())


@bp.post("/search/batch")
def search_batch():
    """`POST {"queries": [...], "k": 10, "mode": "hybrid"}` -> one response per query, one embedding batch."""
    settings = current_settings()
    body = request.get_json(force=True, silent=True)
    if body is None:
        raise QueryError('the request body is not valid JSON; send {"queries": ["..."], "k": 10}')
    queries, k, mode = params.from_batch_body(body, settings)
    responses = current_engine().search_many(queries, k=k, mode=mode)
    return jsonify(results=[r.to_dict() for r in responses])


@bp.get("/documents")
def documents():
    return jsonify(documents=current_engine().documents())


@bp.get("/health")
def health():
    """200 with the engine's health, or 503 with `status: no_index` so monitors can tell why."""
    try:
        info = current_engine().health()
    except IndexNotFoundError as exc:
        return jsonify(status="no_index", error=message_of(exc)), 503
    return jsonify(info)


def _check_admin_token() -> None:
    """When POLICY_SEARCH_ADMIN_TOKEN is set, reload needs it (Bearer or X-Admin-Token header)."""
    token = current_settings().admin_token
    if not token:
        return
    given = request.headers.get("X-Admin-Token", "")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(403, description="reload needs the admin token (header 'Authorization: Bearer <token>')")


@bp.post("/reload")
def reload():
    """Re-open the newest index version now, without waiting for the next change check."""
    _check_admin_token()
    h = holder()
    if h.opened:
        engine = h.get(refresh=False)
        engine.reload()
    else:
        engine = h.get(refresh=False)  # first open is a fresh load already
    return jsonify(reloaded=True, health=engine.health())
