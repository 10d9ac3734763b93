"""The OpenAPI 3 description of the JSON API, served at `GET /api/openapi.json`.

Written with apispec (the document's structure, components and references come from the library);
the result schemas are derived from the dataclasses the API returns (indexer.models), and the limits
(k, query length, batch size) from the running Settings, so the description cannot drift from the code.
The test suite fuzzes every operation from it with schemathesis (tests/app/test_openapi.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing

from apispec import APISpec

from indexer.config import Settings
from indexer.models import SearchResponse, SearchResult
from indexer.retrieval import MODES

ERROR_STATUSES = {
    "400": "bad parameter (the reason says which)",
    "401": "admin token missing or wrong",
    "403": "admin API disabled (no POLICY_SEARCH_ADMIN_TOKEN on the server) or not allowed",
    "404": "no such document, passage or endpoint",
    "405": "method not allowed",
    "413": "request body too large",
    "415": "unsupported media type",
    "422": "nothing in the upload could be indexed",
    "500": "a bug (details only in the server log)",
    "503": "no index yet, index unreadable, model missing, or no capacity now (Retry-After)",
    "504": "the request used up its time budget",
    "507": "the server's disk is full",
}
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def _type_schema(tp) -> dict:
    """JSON schema of a dataclass field type (str, int, float, list[str], dict, X | None)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = _type_schema(inner[0]) if len(inner) == 1 else {}
        return {**schema, "nullable": True}
    if typing.get_origin(tp) is list:
        return {"type": "array", "items": _type_schema(args[0]) if args else {}}
    if typing.get_origin(tp) is dict or tp is dict:
        return {"type": "object"}
    return {"type": _JSON_TYPES[tp]} if tp in _JSON_TYPES else {}


def dataclass_schema(cls) -> dict:
    """Every field of the dataclass is in its to_dict() output: all are listed and required."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return {"type": "object", "properties": {n: _type_schema(hints[n]) for n in fields}, "required": fields}


def _errors(*codes: str) -> dict:
    return {c: {"description": ERROR_STATUSES[c], "content": _json("Error")} for c in codes}


def _json(ref: str) -> dict:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _ok(ref: str, description: str = "OK") -> dict:
    return {"200": {"description": description, "content": _json(ref)}}


def _query(name: str, schema: dict, description: str, required: bool = False) -> dict:
    return {"in": "query", "name": name, "schema": schema, "description": description, "required": required}


def _filter_params() -> list[dict]:
    return [
        _query("year_from", {"type": "integer"}, "only documents from this year on"),
        _query("year_to", {"type": "integer"}, "only documents up to this year"),
        _query("type", {"type": "string"}, "document type(s), comma-separated or repeated"),
        _query("doc", {"type": "string"}, "only this document id (repeatable)"),
    ]


def _components(spec: APISpec, settings: Settings) -> None:
    result = dataclass_schema(SearchResult)
    response = dataclass_schema(SearchResponse)
    response["properties"]["results"] = {"type": "array", "items": {"$ref": "#/components/schemas/SearchResult"}}
    spec.components.schema("SearchResult", result)
    spec.components.schema("SearchResponse", response)
    spec.components.schema(
        "Error", {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
    )
    spec.components.schema("Batch", {
        "type": "object",
        "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/SearchResponse"}}},
        "required": ["results"],
    })
    spec.components.schema("BatchRequest", {
        "type": "object",
        "required": ["queries"],
        "properties": {
            "queries": {"type": "array", "minItems": 1, "maxItems": settings.max_batch_queries,
                        "items": {"type": "string", "maxLength": settings.max_query_chars}},
            "k": {"type": "integer", "minimum": 1, "maximum": settings.max_k},
            "mode": {"type": "string", "enum": list(MODES)},
            "year_from": {"type": "integer"}, "year_to": {"type": "integer"},
            "type": {"type": "array", "items": {"type": "string"}},
            "doc": {"type": "array", "items": {"type": "string"}},
        },
    })
    spec.components.schema("Documents", {
        "type": "object", "required": ["documents"],
        "properties": {"documents": {"type": "array", "items": {
            "type": "object", "required": ["doc_id"], "properties": {"doc_id": {"type": "string"}}}}},
    })
    spec.components.schema("Health", {
        "type": "object", "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "starting", "no_index", "unavailable"]},
            "reason": {"type": "string"}, "version": {"type": "string"},
            "documents": {"type": "integer"}, "chunks": {"type": "integer"},
        },
    })
    spec.components.schema("Report", {"type": "object", "description": "an index build report (BuildReport)"})
    spec.components.schema("Spec", {"type": "object", "required": ["openapi", "paths"]})


def _search_paths(spec: APISpec, settings: Settings) -> None:
    q = _query("q", {"type": "string", "minLength": 1, "maxLength": settings.max_query_chars}, "the query", True)
    k = _query("k", {"type": "integer", "minimum": 1, "maximum": settings.max_k}, "results to return")
    mode = _query("mode", {"type": "string", "enum": list(MODES)}, "ranking: hybrid, dense or lexical")
    spec.path("/api/search", operations={"get": {
        "summary": "Search (interactive lane, time budget POLICY_SEARCH_REQUEST_BUDGET_S)",
        "parameters": [q, k, mode, *_filter_params()],
        "responses": {**_ok("SearchResponse"), **_errors("400", "503", "504")},
    }})
    spec.path("/api/search/batch", operations={"post": {
        "summary": "Many queries in one request (batch lane: slots, queries x k and answer-size caps)",
        "requestBody": {"required": True, "content": _json("BatchRequest")},
        "responses": {**_ok("Batch"), **_errors("400", "413", "503", "504")},
    }})
    chunk = _query("chunk_id", {"type": "string", "minLength": 1, "maxLength": 300}, "a passage id", True)
    spec.path("/api/similar", operations={"get": {
        "summary": "Passages closest in meaning to an indexed passage",
        "parameters": [chunk, k, *_filter_params()],
        "responses": {**_ok("SearchResponse"), **_errors("400", "404", "503", "504")},
    }})
    spec.path("/api/documents", operations={"get": {
        "summary": "The indexed documents", "responses": {**_ok("Documents"), **_errors("503", "504")},
    }})
    spec.path("/api/health", operations={"get": {
        "summary": "ok, degraded (with the reason), starting, no_index or unavailable",
        "responses": {**_ok("Health"), "503": {"description": ERROR_STATUSES["503"], "content": _json("Health")}},
    }})
    spec.path("/api/openapi.json", operations={"get": {
        "summary": "This description", "responses": _ok("Spec"),
    }})


def _admin_paths(spec: APISpec) -> None:
    auth = [{"bearer": []}]
    admin_errors = ("400", "401", "403", "413", "503", "507")
    spec.path("/api/reload", operations={"post": {
        "summary": "Re-open the newest index version", "security": auth,
        "responses": {"200": {"description": "reloaded", "content": {"application/json": {"schema": {
            "type": "object"}}}}, **_errors("401", "403", "503")},
    }})
    upload_form = {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
        **{f: {"type": "string", "maxLength": 500} for f in ("title", "date", "year", "source", "type")},
    }}
    spec.path("/api/admin/documents", operations={"post": {
        "summary": "Upload and index documents (multipart field 'file', repeatable)", "security": auth,
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": upload_form}}},
        "responses": {**_ok("Report"), **_errors(*admin_errors, "422")},
    }})
    doc = {"in": "path", "name": "doc_id", "required": True, "schema": {"type": "string", "maxLength": 300}}
    spec.path("/api/admin/documents/{doc_id}", operations={"delete": {
        "summary": "Remove a document (and its uploaded file)", "security": auth, "parameters": [doc],
        "responses": {**_ok("Report"), **_errors(*admin_errors, "404")},
    }})
    spec.path("/api/admin/reindex", operations={"post": {
        "summary": "Index new and changed files of the seeds and uploads folders", "security": auth,
        "responses": {**_ok("Report"), **_errors(*admin_errors)},
    }})


def build_spec(settings: Settings) -> dict:
    """The OpenAPI document for this server's settings."""
    spec = APISpec(
        title="Policy search API",
        version="1",
        openapi_version="3.0.3",
        info={"description": "Semantic search over Chinese policy documents. Limits: README 'Server limits'."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    _components(spec, settings)
    _search_paths(spec, settings)
    _admin_paths(spec)
    return spec.to_dict()
