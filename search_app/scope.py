"""The engine as one request may see it: every call limited to the collections its reader may read.

`state.current_engine()` hands views this wrapper, never the bare engine, so a view cannot forget the
access filter: searches carry it in their Filters (applied by the backend before ranking), listings,
document views, passages, similar passages and counts are cut to it, and a document outside it answers
exactly like a missing one. Only what a view needs is passed through.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from indexer.access import Scope, collections_of
from indexer.filters import Filters
from indexer.models import Chunk, Document, SearchResponse


def _noop(action: str, **fields) -> None:
    """No audit log (tests that build the wrapper by hand)."""


class ScopedEngine:
    """A SearchEngine seen through one reader's `readable` collections (None: no limit, admins).

    Searches, exports, document views and similar passages are audited through `record` (search_app.audit):
    the query, the collections searched and how many results came back.
    """

    def __init__(
        self, engine, readable: Scope, read_only: frozenset[str] = frozenset(), record: Callable = _noop, action=""
    ):
        self._engine = engine
        self.readable = readable
        self.read_only = read_only
        self._record = record
        self._action = action or "search"  # "export" when the request is an export

    def filters(self, filters: Filters | None) -> Filters:
        """The request's filters with its access added (whatever access they carried is replaced)."""
        return dataclasses.replace(filters or Filters(), readable=self.readable)

    def _audit_search(self, response: SearchResponse, f: Filters, **extra) -> None:
        scope = f.scope()
        self._record(
            self._action,
            query=response.query,
            mode=response.mode,
            collections=sorted(scope) if scope is not None else "*",
            results=len(response.results),
            **extra,
        )

    def _redact(self, meta: dict | None) -> dict:
        """Metadata as this reader may see it: collections it cannot read are not even named."""
        meta = dict(meta or {})
        if self.readable is not None and "collections" in meta:
            meta["collections"] = [c for c in collections_of(meta) if c in self.readable]
        return meta

    def _redacted(self, response: SearchResponse | None) -> SearchResponse | None:
        if response is not None:
            response.results = [dataclasses.replace(r, meta=self._redact(r.meta)) for r in response.results]
        return response

    def search(
        self, query: str, k: int = 10, mode: str = "hybrid", filters: Filters | None = None, options=None
    ) -> SearchResponse:
        f = self.filters(filters)
        response = self._redacted(self._engine.search(query, k=k, mode=mode, filters=f, options=options))
        self._audit_search(response, f)
        return response

    def search_many(
        self, queries: list[str], k: int = 10, mode: str = "hybrid", filters: Filters | None = None, options=None
    ) -> list[SearchResponse]:
        f = self.filters(filters)
        found = self._engine.search_many(queries, k=k, mode=mode, filters=f, options=options)
        responses = [self._redacted(r) for r in found]
        for response in responses:
            self._audit_search(response, f, batch=len(responses))
        return responses

    def similar(
        self, chunk_id: str, k: int = 10, filters: Filters | None = None, same_document: bool = False
    ) -> SearchResponse | None:
        f = self.filters(filters)
        response = self._redacted(self._engine.similar(chunk_id, k=k, filters=f, same_document=same_document))
        self._record("similar", chunk_id=chunk_id, results=None if response is None else len(response.results))
        return response

    def term_idf(self, term: str) -> float:
        """Corpus statistics only (no document content): which query words are worth marking."""
        idf = getattr(self._engine, "term_idf", None)
        return idf(term) if callable(idf) else 0.0

    def documents(self) -> list[dict]:
        return [{**d, "meta": self._redact(d.get("meta"))} for d in self._engine.documents(scope=self.readable)]

    def document(self, doc_id: str) -> Document | None:
        doc = self._engine.document(doc_id, scope=self.readable)
        if doc is not None:
            doc = dataclasses.replace(doc, meta=self._redact(doc.meta))
        self._record("view", doc_id=doc_id, found=doc is not None)
        return doc

    # -- read on screen only

    def is_read_only(self, meta: dict | None) -> bool:
        """A document of a read-only collection: shown on screen, never exported, downloaded or copied as text."""
        return bool(self.read_only) and bool(self.read_only.intersection(collections_of(meta)))

    def exportable(self, results: list) -> list:
        """Results that may leave as CSV rows (documents of read-only collections never do)."""
        return [r for r in results if not self.is_read_only(r.meta)]

    def may_export(self, filters: Filters | None) -> bool:
        """Whether this search can offer an export link: none of the collections it covers is read-only."""
        scope = self.filters(filters).scope()
        covered = self.collections() if scope is None else [c for c in self.collections() if c in scope]
        return not self.read_only.intersection(covered)

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


def for_request(engine) -> ScopedEngine:
    """The engine for this request: its reader's collections, read-only flags and audit log."""
    from flask import has_request_context, request

    from search_app import audit
    from search_app.identity import current_readable, read_only_collections

    action = "export" if has_request_context() and request.endpoint == "pages.export_csv" else "search"
    return ScopedEngine(engine, current_readable(), read_only_collections(), audit.record, action)
