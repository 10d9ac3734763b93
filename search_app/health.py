"""The answer of `GET /api/health`, in one small function that other states can extend.

States: `ok` (200); `degraded` with a `reason` (200 while searches are still answered from an older
version, 503 when the live version cannot be read); `no_index` (503); `unavailable` (503, the engine
cannot open: a broken index or model). Monitors can tell each apart by status and HTTP code.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.errors import IndexNotFoundError, SearchEngineError
from search_app.errors import message_of


def health_report(engine: Callable[[], object]) -> tuple[dict, int]:
    """(body, HTTP status) for the health endpoint; `engine` opens (or returns) the request's engine."""
    try:
        info = engine().health()
    except IndexNotFoundError as exc:
        return {"status": "no_index", "error": message_of(exc)}, 503
    except SearchEngineError as exc:
        return {"status": "unavailable", "error": message_of(exc), "reason": message_of(exc)}, 503
    if info.get("status") == "degraded" and not info.get("readable", True):
        return info, 503
    return info, 200
