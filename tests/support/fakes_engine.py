"""A hand-made stand-in for `indexer.retrieval.SearchEngine`, for pure web-layer and CLI tests.

It keeps a few passages in memory (one holding `<script>` in text and title) and
ranks by naive substring matching, so tests control exactly what the page shows.
Every call is recorded, so tests can check batching and the per-request reload check.
"""

from __future__ import annotations

import time

from indexer.access import collections_of
from indexer.config import Settings
from indexer.errors import SearchEngineError
from indexer.models import Chunk, Document, SearchResponse, SearchResult
from indexer.retrieval import validate_request
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings

# (doc_id, title, heading_path, text, meta)
PASSAGES = [
    (
        "gwr-2024",
        "2024年政府工作报告",
        ["一、2023年工作回顾", "（一）经济运行"],
        "国内生产总值超过126万亿元，增长5.2%。推动高质量发展取得新进展。城镇新增就业1244万人。",
        {"year": 2024, "type": "report"},
    ),
    (
        "gwr-2024",
        "2024年政府工作报告",
        ["二、2024年主要目标"],
        "国内生产总值增长5%左右；城镇调查失业率5.5%左右。坚持稳中求进，推动高质量发展。",
        {"year": 2024, "type": "report"},
    ),
    (
        "speech-xss",
        "讲话稿<script>alert('title')</script>",
        ["一、<b>要求</b>"],
        "学习<script>alert('x')</script>发展理念，A & B 都要抓。",
        {"year": 2021, "type": "speech"},
    ),
    (
        "speech-trad",
        "繁體講話",
        [],
        "堅持推動高質量發展。",
        {"year": 2020, "type": "speech"},
    ),
]


class FakeEngine:
    """Implements the SearchEngine interface; `fail_with` makes every search raise that error."""

    def __init__(
        self, settings: Settings | None = None, passages=PASSAGES, fail_with: SearchEngineError | None = None
    ):
        self.settings = settings or test_settings()
        self.passages = list(passages)
        self.fail_with = fail_with
        self.calls: list[tuple] = []
        self.filters_seen: list = []  # the Filters of each search/similar call, in order
        self.reload_checks = 0
        self.embedder = FakeEmbedder()  # what the admin API hands to the pipeline
        self.reloads = 0
        self.version = "v1"

    # -- search

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters=None, options=None) -> SearchResponse:
        return self.search_many([query], k, mode, filters, options)[0]

    def search_many(
        self, queries: list[str], k: int = 10, mode: str = "hybrid", filters=None, options=None
    ) -> list[SearchResponse]:
        self.calls.append(("search_many", list(queries), k, mode))
        self.filters_seen.append(filters)
        if self.fail_with is not None:
            raise self.fail_with
        out = []
        for query in queries:
            q, k, mode = validate_request(query, k, mode, self.settings)
            t0 = time.perf_counter()
            offset = getattr(options, "offset", 0)
            ranked = self._rank(q, offset + k, filters)
            out.append(SearchResponse(q, (time.perf_counter() - t0) * 1000 + 1.5, mode, ranked[offset:]))
        return out

    def _allowed(self, i: int, filters) -> bool:
        """Filters as SearchEngine applies them: doc ids, year range (unknown year fails year_to), type."""
        if filters is None:
            return True
        doc_id, _, _, _, meta = self.passages[i]
        year = int(meta.get("year") or 0)
        scope = filters.scope()
        return (
            (scope is None or bool(scope.intersection(collections_of(meta))))
            and             (not filters.doc_ids or doc_id in filters.doc_ids)
            and (not filters.year_from or year >= filters.year_from)
            and (not filters.year_to or 0 < year <= filters.year_to)
            and (not filters.doc_types or meta.get("type") in filters.doc_types)
        )

    def _rank(self, query: str, k: int, filters=None) -> list[SearchResult]:
        words = query.split()
        hits = []
        for i, (_, title, _, text, _) in enumerate(self.passages):
            score = sum(text.count(w) + title.count(w) for w in words)
            if score and self._allowed(i, filters):
                hits.append((score, i))
        hits.sort(key=lambda h: (-h[0], h[1]))
        return [self._result(rank, score / 10, i) for rank, (score, i) in enumerate(hits[:k], start=1)]

    def _result(self, rank: int, score: float, i: int) -> SearchResult:
        doc_id, title, path, text, meta = self.passages[i]
        first = text.find("。") + 1 or len(text)
        return SearchResult(
            rank=rank,
            score=score,
            doc_id=doc_id,
            title=title,
            heading_path=list(path),
            text=text,
            chunk_id=f"{doc_id}#{i}",
            start=0,
            end=len(text),
            best_sentence=text[:first],
            best_sentence_start=0,
            best_sentence_end=first,
            meta=dict(meta),
        )

    def similar(self, chunk_id: str, k: int = 10, filters=None, same_document: bool = False) -> SearchResponse | None:
        """Other passages ranked by shared characters; None for an unknown passage, like SearchEngine."""
        self.calls.append(("similar", chunk_id, k))
        self.filters_seen.append(filters)
        if self.fail_with is not None:
            raise self.fail_with
        ids = [f"{p[0]}#{i}" for i, p in enumerate(self.passages)]
        if chunk_id not in ids:
            return None
        src = ids.index(chunk_id)
        readable = getattr(filters, "readable", None)
        if readable is not None and not readable.intersection(collections_of(self.passages[src][4])):
            return None
        chars = set(self.passages[src][3])
        others = [i for i in range(len(self.passages)) if i != src and self._allowed(i, filters)]
        scored = sorted(((len(chars & set(self.passages[i][3])), i) for i in others), key=lambda h: (-h[0], h[1]))
        results = [self._result(rank, n / 100, i) for rank, (n, i) in enumerate(scored[:k], start=1)]
        return SearchResponse(self.passages[src][3][:80], 1.0, "similar", results)

    # -- browsing

    def _visible(self, doc_id: str, scope) -> bool:
        metas = [p[4] for p in self.passages if p[0] == doc_id]
        return bool(metas) and (scope is None or bool(scope.intersection(collections_of(metas[0]))))

    def collections(self, scope=None) -> list[str]:
        names = {c for p in self.passages for c in collections_of(p[4])}
        return sorted(names if scope is None else names & scope)

    def documents(self, scope=None) -> list[dict]:
        seen: dict[str, dict] = {}
        for doc_id, title, _, _, meta in self.passages:
            if not self._visible(doc_id, scope):
                continue
            entry = seen.setdefault(doc_id, {"doc_id": doc_id, "title": title, "chunks": 0, "meta": meta})
            entry["chunks"] += 1
        return list(seen.values())

    def document(self, doc_id: str, scope=None) -> Document | None:
        texts = [p[3] for p in self.passages if p[0] == doc_id]
        if not texts or not self._visible(doc_id, scope):
            return None
        title, meta = next((p[1], p[4]) for p in self.passages if p[0] == doc_id)
        return Document(doc_id=doc_id, title=title, text="\n".join(texts), meta=dict(meta))

    def chunks_of(self, doc_id: str, scope=None) -> list[Chunk]:
        """Passages of one document with offsets into document(doc_id).text (joined by newlines)."""
        out, pos = [], 0
        if not self._visible(doc_id, scope):
            return out
        for i, p in enumerate(self.passages):
            if p[0] == doc_id:
                out.append(Chunk(f"{doc_id}#{i}", doc_id, p[1], list(p[2]), p[3], pos, pos + len(p[3]), ordinal=i))
                pos += len(p[3]) + 1
        return out

    # -- lifecycle

    def reload_if_changed(self) -> bool:
        self.reload_checks += 1
        return False

    def reload(self) -> None:
        self.reloads += 1

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def close(self) -> None:
        pass

    def health(self, scope=None) -> dict:
        return {
            "status": "ok",
            "version": self.version,
            "documents": len(self.documents(scope)),
            "chunks": sum(self._visible(p[0], scope) for p in self.passages),
            "model": "fake",
            "dim": 0,
        }
