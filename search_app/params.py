"""Turn raw request values (URL strings, JSON, CLI args) into validated search parameters.

Range and mode checks live in `indexer.retrieval.validate_request` only; this module merely
parses strings into the types that function expects, so the web pages, the JSON API and the
batch CLI all reject the same inputs with the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer import retrieval
from indexer.config import Settings
from indexer.errors import QueryError


@dataclass(frozen=True)
class SearchParams:
    query: str
    k: int
    mode: str


def parse_k(raw: object, settings: Settings) -> int:
    """An int from a URL string or a JSON value; missing or blank means the default.

    Booleans and floats are refused: JSON `true` or `2.5` is a client bug, not a k.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return settings.default_k
    if isinstance(raw, bool):
        raise QueryError(f"k must be an integer between 1 and {settings.max_k}, not {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if text.lstrip("+-").isdigit() and text.isascii():
            return int(text)
    raise QueryError(f"k must be an integer between 1 and {settings.max_k}, not {raw!r}")


def parse_mode(raw: object, settings: Settings) -> str:
    """Missing or blank means the configured default; anything else goes to validate_request."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return settings.default_mode
    if not isinstance(raw, str):
        raise QueryError(f"mode must be one of {', '.join(retrieval.MODES)}, not {raw!r}")
    return raw.strip()


def validate(query: object, k: int, mode: str, settings: Settings) -> SearchParams:
    """The single validation path: type check here, everything else in validate_request."""
    if not isinstance(query, str):
        raise QueryError(f"query must be a string, not {type(query).__name__}")
    # Looked up on the module at call time so the lead's implementation is always the one used.
    q, k, mode = retrieval.validate_request(query, k, mode, settings)
    return SearchParams(q, k, mode)


def from_args(args, settings: Settings) -> SearchParams:
    """Parameters of `GET ?q=&k=&mode=` (a werkzeug MultiDict or a plain dict)."""
    return validate(
        args.get("q", ""), parse_k(args.get("k"), settings), parse_mode(args.get("mode"), settings), settings
    )


def from_batch_body(body: object, settings: Settings) -> tuple[list[str], int, str]:
    """Validate `{"queries": [...], "k": .., "mode": ..}`; every query checked, first bad one reported."""
    if not isinstance(body, dict):
        raise QueryError('the request body must be a JSON object like {"queries": ["..."]}')
    queries = body.get("queries")
    if not isinstance(queries, list):
        raise QueryError('"queries" must be a list of strings')
    if not queries:
        raise QueryError('"queries" is empty')
    if len(queries) > settings.max_batch_queries:
        raise QueryError(
            f"too many queries: {len(queries)} (at most {settings.max_batch_queries} per request)"
        )
    k = parse_k(body.get("k"), settings)
    mode = parse_mode(body.get("mode"), settings)
    cleaned: list[str] = []
    for i, query in enumerate(queries):
        if not isinstance(query, str):
            raise QueryError(f"queries[{i}] must be a string, not {type(query).__name__}")
        try:
            p = validate(query, k, mode, settings)
        except QueryError as exc:
            raise QueryError(f"queries[{i}]: {exc}") from exc
        cleaned.append(p.query)
        k, mode = p.k, p.mode
    return cleaned, k, mode
