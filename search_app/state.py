"""The one search engine a web app serves, opened lazily and kept fresh.

Opening loads the embedding model and the index (seconds), so it happens once per
process, under a lock, on the first request that needs it. A failed open (no index
yet) is not cached: once `make index` has run, the next request succeeds without a
restart. Every later request asks the engine whether a newer index version was
published (`reload_if_changed`, a cheap stat), so a re-index is served at once; if
that newer version cannot be loaded, the one already open keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from indexer.config import Settings
from indexer.errors import SearchEngineError

log = logging.getLogger(__name__)


def _open_real_engine(settings: Settings):
    from indexer.retrieval import SearchEngine

    return SearchEngine.open(settings)


class EngineHolder:
    def __init__(self, settings: Settings, engine=None, opener: Callable[[Settings], object] | None = None):
        self.settings = settings
        self._engine = engine
        self._opener = opener or _open_real_engine
        self._lock = threading.Lock()
        # Readiness: a server that warms up (search_app serve) is "starting" until the model is loaded and
        # one query has run; an app nobody warms up is ready at once (it loads on its first request).
        self._starting = False
        self._ready = threading.Event()

    @property
    def starting(self) -> bool:
        """True while a warm-up is under way: /api/health says 503 starting, the page says 正在加载."""
        return self._starting and not self._ready.is_set()

    def begin_warm_up(self) -> None:
        self._starting = True

    def end_warm_up(self) -> None:
        """Warm-up over (done or failed): requests now meet the engine itself, or its reason for failing."""
        self._ready.set()

    @property
    def opened(self) -> bool:
        return self._engine is not None

    def get(self, refresh: bool = True):
        """The engine, opened on first use; raises the indexer's errors (e.g. IndexNotFoundError)."""
        engine = self._engine
        if engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._opener(self.settings)
                return self._engine
        if refresh:
            try:
                engine.reload_if_changed()
            except SearchEngineError as exc:  # the loaded version stays valid: keep serving it
                log.warning("new index version not loaded, still serving the previous one: %s", exc)
        return engine


EXTENSION_KEY = "policy_search"


def holder() -> EngineHolder:
    from flask import current_app

    return current_app.extensions[EXTENSION_KEY]


def current_settings() -> Settings:
    return holder().settings


def current_engine(refresh: bool = True):
    """The app's engine for this request, seen through the reader's collections (search_app.scope);
    a newer index version is picked up first."""
    from search_app.scope import for_request

    return for_request(holder().get(refresh=refresh))
