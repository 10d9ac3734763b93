"""The engine as one request may see it: every call limited to the collections its reader may read.

`state.current_engine()` hands views this wrapper, never the bare engine, so a view cannot forget the
access filter: searches carry it in their Filters (applied by the backend before ranking), listings,
document views, passages, similar passages and counts are cut to it, and a document outside it answers
exactly like a missing one. Only what a view needs is passed through.
"""

from __future__ import annotations

import dataclasses

from indexer.access import Scope
from indexer.models import Chunk, Document, SearchResponse
from indexer.retrieval import Filters


class ScopedEngine:
    """A SearchEngine seen through one reader's `readable` collections (None: no limit, admins)."""

    def __init__(self, engine, readable: Scope):
        self._engine = engine
        self.readable = readable

    def filters(self, filters: Filters | None) -> Filters:
        """The request's filters with its access added (whatever access they carried is replaced)."""
        return dataclasses.replace(filters or Filters(), readable=self.readable)

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None) -> SearchResponse:
        return self._engine.search(query, k=k, mode=mode, filters=self.filters(filters))

    def search_many(
        self, queries: list[str], k: int = 10, mode: str = "hybrid", filters: Filters | None = None
    ) -> list[SearchResponse]:
        return self._engine.search_many(queries, k=k, mode=mode, filters=self.filters(filters))

    def similar(self, chunk_id: str, k: int = 10, filters: Filters | None = None) -> SearchResponse | None:
        return self._engine.similar(chunk_id, k=k, filters=self.filters(filters))

    def documents(self) -> list[dict]:
        return self._engine.documents(scope=self.readable)

    def document(self, doc_id: str) -> Document | None:
        return self._engine.document(doc_id, scope=self.readable)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        return self._engine.chunks_of(doc_id, scope=self.readable)

    def collections(self) -> list[str]:
        return self._engine.collections(scope=self.readable)

    def health(self) -> dict:
        return self._engine.health(scope=self.readable)

    # -- lifecycle: no document content passes here

    def reload(self) -> None:
        self._engine.reload()

    def reload_if_changed(self) -> bool:
        return self._engine.reload_if_changed()

    @property
    def settings(self):
        return self._engine.settings
