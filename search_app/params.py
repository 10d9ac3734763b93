"""Turn raw request values (URL strings, JSON, CLI args) into validated search parameters.

Range and mode checks live in `indexer.retrieval.validate_request` only; this module merely
parses strings into the types that function expects, so the web pages, the JSON API and the
batch CLI all reject the same inputs with the same reasons. Filters (year range, document
type, document id) and the page's paging (page, size) are parsed here too, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer import ordering, retrieval
from indexer.access import collections_of
from indexer.config import Settings
from indexer.errors import QueryError
from indexer.filters import Filters


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
    q, k, mode = retrieval.validate_request(query, k, mode, settings)
    return SearchParams(q, k, mode)


def checked_k(raw: object, settings: Settings) -> int:
    """k of a request without a query (similar passages): parsed here, range-checked by validate_k."""
    return retrieval.validate_k(parse_k(raw, settings), settings)


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


# ---------------------------------------------------------------- filters and paging

# Document kinds the loader assigns (indexer.documents.guess_type) or a sidecar may set; the
# labels are what the page shows. A type found in the index is accepted even if not listed here.
DOC_TYPE_LABELS = {
    "speech": "讲话",
    "report": "报告",
    "resolution": "决议",
    "notice": "通知",
    "other": "其他",
}
MAX_ID_CHARS = 300  # longer than any doc or chunk id the indexer makes; longer ones are refused unread
MAX_FILTER_VALUES = 50
YEAR_MIN, YEAR_MAX = 1, 9999


def split_values(raw: object, split_commas: bool) -> list[str]:
    """One value, a list (repeated URL parameter, JSON array) or a comma list, as clean strings."""
    items = raw if isinstance(raw, (list, tuple)) else [] if raw is None else [raw]
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise QueryError(f"filter values must be strings, not {type(item).__name__}")
        parts = item.split(",") if split_commas else [item]
        out.extend(p.strip() for p in parts if p.strip())
    return out


def parse_year(raw: object, name: str) -> int | None:
    """A year from a URL string or a JSON int; blank means no bound."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().lstrip("+-").isdigit():
        value = int(raw.strip())
    if value is None:
        raise QueryError(f"{name} must be an integer year, not {raw!r}")
    if not YEAR_MIN <= value <= YEAR_MAX:
        raise QueryError(f"{name} must be a year between {YEAR_MIN} and {YEAR_MAX}, got {value}")
    return value


def parse_filters(
    year_from: object = None,
    year_to: object = None,
    types: object = None,
    docs: object = None,
    collections=None,
    issuers: object = None,
    number_years: object = None,
):
    """Raw filter values -> indexer Filters; a bad value is a QueryError saying why.

    `collections` is the reader's choice only; what they may read is added by search_app.access.
    """
    y0, y1 = parse_year(year_from, "year_from"), parse_year(year_to, "year_to")
    if y0 is not None and y1 is not None and y0 > y1:
        raise QueryError(f"year_from ({y0}) is after year_to ({y1})")
    type_list, doc_list = split_values(types, split_commas=True), split_values(docs, split_commas=False)
    coll_list = split_values(collections, split_commas=True)
    for name, values in (("type", type_list), ("doc", doc_list), ("collection", coll_list)):
        if len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"too many {name} filters: {len(values)} (at most {MAX_FILTER_VALUES})")
    for t in type_list:
        if len(t) > 40:
            raise QueryError(f"unknown document type {t[:40]!r}…")
    for d in doc_list:
        if len(d) > MAX_ID_CHARS:
            raise QueryError(f"document id is {len(d)} characters long; ids are at most {MAX_ID_CHARS}")
    for c in coll_list:
        if len(c) > 40:
            raise QueryError(f"unknown collection {c[:40]!r}…")
    issuer_list, years = _official_filters(issuers, number_years)
    return Filters(
        doc_ids=tuple(dict.fromkeys(doc_list)),
        year_from=y0,
        year_to=y1,
        doc_types=tuple(dict.fromkeys(type_list)),
        collections=tuple(dict.fromkeys(coll_list)),
        issuers=issuer_list,
        number_years=years,
    )


def _official_filters(issuers: object, number_years: object) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """`issuer` (发文机关, matched as a substring) and `doc_number_year` (the year in a 发文字号) values."""
    issuer_list = split_values(issuers, split_commas=True)
    raw_years = number_years if isinstance(number_years, (list, tuple)) else [number_years]
    as_text = [str(y) if isinstance(y, int) and not isinstance(y, bool) else y for y in raw_years if y is not None]
    year_list = split_values(as_text, split_commas=True)
    for name, values in (("issuer", issuer_list), ("doc_number_year", year_list)):
        if len(values) > MAX_FILTER_VALUES:
            raise QueryError(f"too many {name} filters: {len(values)} (at most {MAX_FILTER_VALUES})")
    for issuer in issuer_list:
        if len(issuer) > 40:
            raise QueryError(f"issuer {issuer[:40]!r}… is longer than 40 characters")
    years = tuple(dict.fromkeys(parse_year(y, "doc_number_year") for y in year_list))
    return tuple(dict.fromkeys(issuer_list)), tuple(y for y in years if y is not None)


def filters_from_args(args) -> Filters:
    """Filters of `?year_from=&year_to=&type=a,b&type=c&doc=..` (MultiDict) or a JSON object (dict)."""
    many = getattr(args, "getlist", None)
    return parse_filters(
        args.get("year_from"),
        args.get("year_to"),
        many("type") if many else args.get("type"),
        many("doc") if many else args.get("doc"),
        many("collections") if many else args.get("collections"),
        many("issuer") if many else args.get("issuer"),
        many("doc_number_year") if many else args.get("doc_number_year"),
    )


def check_known(filters: Filters, documents: list[dict]) -> None:
    """Refuse a type or document the index does not have: an empty result would hide the typo."""
    if filters.doc_types:
        known = set(DOC_TYPE_LABELS) | {str((d.get("meta") or {}).get("type") or "") for d in documents}
        unknown = [t for t in filters.doc_types if t not in known]
        if unknown:
            raise QueryError(
                f"unknown document type {unknown[0]!r}; known types: {', '.join(sorted(k for k in known if k))}"
            )
    if filters.doc_ids:
        ids = {d["doc_id"] for d in documents}
        missing = [d for d in filters.doc_ids if d not in ids]
        if missing:
            raise QueryError(f"no document with id {missing[0]!r} in the index")
    check_collections(filters, {c for d in documents for c in collections_of(d.get("meta"))})


def check_collections(filters: Filters, known: set[str]) -> None:
    """Refuse a collection the reader cannot see (absent and unreadable ones get the same answer)."""
    if filters.readable is not None:
        known = known & filters.readable
    unknown = [c for c in filters.collections if c not in known]
    if unknown:
        raise QueryError(f"unknown collection {unknown[0]!r}")


def check_against(filters: Filters, engine) -> None:
    """Refuse filters naming what the engine's index lacks; unfiltered requests cost no document listing."""
    if is_filtered(filters):
        check_known(filters, engine.documents())


def is_filtered(filters: Filters) -> bool:
    return bool(
        filters.doc_ids
        or filters.doc_types
        or filters.year_from
        or filters.year_to
        or filters.collections
        or filters.issuers
        or filters.number_years
    )


@dataclass(frozen=True)
class Paging:
    page: int
    size: int
    k: int  # how many results to fetch: page * size, capped at max_k

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _positive_int(raw: object, name: str, default: int, hi: int) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default
    text = raw.strip() if isinstance(raw, str) else None
    if text is None or not (text.isascii() and text.lstrip("+-").isdigit()):
        raise QueryError(f"{name} must be an integer between 1 and {hi}, not {raw!r}")
    value = int(text)
    if not 1 <= value <= hi:
        raise QueryError(f"{name} must be between 1 and {hi}, got {value}")
    return value


def parse_paging(args, settings: Settings) -> Paging:
    """`page` (1-based) and `size` (results per page; `k` is accepted for older shared links)."""
    max_size = max(1, min(settings.max_page_size, settings.max_k))
    default = min(settings.default_k, max_size)
    if args.get("size") is not None or args.get("k") is None:
        size = _positive_int(args.get("size"), "size", default, max_size)
    else:
        size = _positive_int(args.get("k"), "k", default, max_size)
    last = -(-settings.max_k // size)
    page = _positive_int(args.get("page"), "page", 1, 1_000_000)
    if page > last:
        raise QueryError(
            f"page {page} is past the last page: at most {settings.max_k} results are shown, "
            f"{last} pages of {size}"
        )
    return Paging(page=page, size=size, k=min(page * size, settings.max_k))


# ---------------------------------------------------------------- ordering and grouping

SORT_ALIASES = {"date": "newest", "new": "newest", "old": "oldest", "": "relevance"}


def parse_sort(raw: object) -> str:
    """`relevance` (default), `newest` or `oldest`; anything else is a 400 naming the choices."""
    if raw is None:
        return "relevance"
    if not isinstance(raw, str):
        raise QueryError(f"sort must be one of {', '.join(ordering.SORTS)}, not {raw!r}")
    value = SORT_ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if value not in ordering.SORTS:
        raise QueryError(f"sort must be one of {', '.join(ordering.SORTS)}, not {raw!r}")
    return value


def parse_flag(raw: object, name: str) -> bool:
    """A yes/no parameter: 1/true/yes/on or 0/false/no/off (JSON booleans too); missing means no."""
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on", "doc"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise QueryError(f"{name} must be 1 or 0 (true or false), not {raw!r}")


def parse_offset(raw: object, settings: Settings) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        value = int(raw.strip())
    if value is None or not 0 <= value < settings.max_k:
        raise QueryError(f"offset must be an integer between 0 and {settings.max_k - 1}, not {raw!r}")
    return value


def options_from_args(args, settings: Settings, offset: int | None = None) -> ordering.SearchOptions:
    """`sort=relevance|newest|oldest`, `group=1` (one passage per document), `offset=` (API paging)."""
    return ordering.SearchOptions(
        sort=parse_sort(args.get("sort")),
        group=parse_flag(args.get("group"), "group"),
        offset=parse_offset(args.get("offset"), settings) if offset is None else offset,
    )
