"""The one retrieval function behind the page, the JSON API, the batch CLI and eval.

A query flows: validate_request -> SearchEngine.search_many (parse, write out relative years such as
去年 (indexer.hybrid), embed the batch in one call) -> _search_one:
the rows the filters allow (indexer.filters) -> _rank: the mode's ranking from the open index version
(backend.IndexReader: FAISS or Milvus); in hybrid mode the dense ranking and the BM25 ranking of the question's
reading (indexer.hybrid) fused (indexer.fusion), then the years it names preferred -> ordered and paged
(indexer.ordering) -> SearchResult with its best sentence marked (indexer.marking).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import unicodedata
from dataclasses import dataclass

import numpy as np

from indexer import access, facets, limits, textnorm
from indexer import query as query_lang
from indexer.backend import IndexReader, open_store
from indexer.config import Settings
from indexer.embedding import Embedder
from indexer.errors import QueryError, SearchEngineError
from indexer.filters import Filters, and_masks
from indexer.fusion import rrf_fuse, score_fuse, sentence_ranking
from indexer.hybrid import HybridQuery, HybridReader
from indexer.marking import SentenceCache, best_sentence, mark_sentences_by_meaning, mark_stored_sentences
from indexer.metadata import TYPES
from indexer.model_identity import check_index_model
from indexer.models import Chunk, Document, SearchResponse, SearchResult
from indexer.ordering import SearchOptions, doc_number_first, group_by_document, order_by, spread_neighbours
from indexer.sentence_vectors import RowSentences
from indexer.textnorm import has_chinese

MODES = ("dense", "lexical", "hybrid")


class DenseHits:
    """One query's dense search, run once as deep as its deepest reader: the ranking's candidates (100) and the
    match count (facet_depth, 1,000) are prefixes of the same hits. Two searches cost twice the graph walk at 1M
    chunks; exact (flat) search gives the same prefixes either way."""

    def __init__(self, version: IndexReader, qvec: np.ndarray | None, mask: np.ndarray | None, depth: int) -> None:
        self.version, self.qvec, self.mask, self.depth = version, qvec, mask, depth
        self._hits: tuple[np.ndarray, np.ndarray] | None = None
        self._asked = 0

    def top(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The best n (rows, scores), searching again only when a deeper list than the first is wanted."""
        if self._hits is None or n > self._asked:
            self._asked = max(n, self.depth)
            self._hits = self.version.dense(self.qvec, self._asked, self.mask)
        rows, scores = self._hits
        return rows[:n], scores[:n]


def validate_k(k: int, settings: Settings) -> int:
    """Raise QueryError unless 1 <= k <= max_k (also for requests without a query, such as similar passages)."""
    if isinstance(k, bool) or not isinstance(k, int):
        raise QueryError("k must be an integer")
    if not 1 <= k <= settings.max_k:
        raise QueryError(f"k must be between 1 and {settings.max_k}, got {k}")
    return k


def passage_texts(version) -> list[str]:
    """Every passage's text in row order (SQLite in one query; other backends through chunks_at)."""
    texts = getattr(version, "passage_texts", None)
    if callable(texts):
        return texts()
    out: list[str] = []
    for lo in range(0, version.n_chunks, 1000):
        out.extend(c.text for c in version.chunks_at(list(range(lo, min(lo + 1000, version.n_chunks)))))
    return out


def validate_request(query: str, k: int, mode: str, settings: Settings) -> tuple[str, int, str]:
    """Raise QueryError with a reason for a bad query/k/mode; return the cleaned values."""
    if not isinstance(query, str):
        raise QueryError("query must be a string")
    q = query.strip()
    if not q or all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in q):  # zero-width only
        raise QueryError("query is empty (查询内容不能为空)")
    if len(q) > settings.max_query_chars:
        raise QueryError(f"query is {len(q)} characters long; the limit is {settings.max_query_chars}")
    validate_k(k, settings)
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return q, k, mode


@dataclass(frozen=True)
class OpenFailure:
    """A version that failed to open: not retried before `retry_at` (monotonic), so a broken newest
    version costs one attempt per back-off period instead of one per request."""

    name: str | None
    error: SearchEngineError
    retry_at: float


class SearchEngine:
    """One open index version plus the embedder; notices when the index is switched."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self._embedder = embedder
        textnorm.use_terms(settings.terms_file)
        self._lock = threading.Lock()
        # Searches run `search_slots` at a time, interactive ones first (indexer.limits): on a few cores and
        # one interpreter lock, requests that all run at once only slow each other down, and a queue with
        # priorities lets a user's question go ahead of a batch slice.
        self._search_gate = limits.PriorityGate(settings.search_slots, settings.batch_yield_max_s)
        self.store = open_store(settings)  # FAISS + SQLite, or Milvus when settings.milvus_uri is set
        self._version: IndexReader | None = None
        self._failure: OpenFailure | None = None
        self.loads = 0  # versions opened (one per switch: a herd of requests must not load it N times)
        self._sentences = SentenceCache(settings.sentence_cache_size)
        self._scan: tuple[IndexReader, query_lang.PassageScan] | None = None
        self.hybrid = HybridReader(settings)  # how hybrid ranking reads a question beside embedding it

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> SearchEngine:
        engine = cls(settings, embedder)
        engine.reload()
        return engine

    # -- index lifecycle

    @property
    def version(self) -> IndexReader:
        if self._version is None:
            self.reload()
        return self._version

    def reload(self, force: bool = True) -> bool:
        """Load the live version; on any error the version already loaded keeps serving.

        Double-checked under the lock: of the threads that noticed a new version, the first loads it
        and the others find it loaded. `force=False` also respects the back-off of a failed version.
        """
        with self._lock:
            name = self.store.current_name()
            if not force and self._version is not None and name == self._version.name:
                return False
            if not force and self._backing_off(name):
                return False
            try:
                new = self.store.open_current()
                preload = getattr(new, "preload", None)
                if callable(preload):  # vectors read and BM25 built now: a broken snapshot fails here, not mid-query
                    preload()
                if self._embedder is not None:
                    self._check_model(new, self._embedder)
            except SearchEngineError as exc:
                if name is not None:  # no index yet is not a broken version: retry at once after `make index`
                    self._failure = OpenFailure(name, exc, time.monotonic() + self.settings.version_retry_s)
                raise
            self.loads += 1
            self._failure = None
            self._version = new
            return True

    def _backing_off(self, name: str | None) -> bool:
        f = self._failure
        return f is not None and f.name == name and time.monotonic() < f.retry_at

    def close(self) -> None:
        """Release the open version (files, connections); the engine reopens it if used again."""
        with self._lock:
            version, self._version = self._version, None
        if version is not None:
            version.close()

    def reload_if_changed(self) -> bool:
        """Cheap (a small file or alias read): called before each request so a re-index needs no restart.

        A newest version that failed to open is not retried before its back-off ends (the health
        endpoint reports it), so a broken version costs one attempt per period, not one per request.
        """
        name = self.store.current_name()
        if name is None or (self._version is not None and name == self._version.name):
            return False
        if self._backing_off(name):
            return False
        return self.reload(force=False)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from indexer.embedding import load_embedder

                    embedder = load_embedder(self.settings)
                    if self._version is not None:
                        self._check_model(self._version, embedder)
                    self._embedder = embedder
        return self._embedder

    @staticmethod
    def _check_model(version: IndexReader, embedder: Embedder) -> None:
        check_index_model(version.manifest, embedder, version.name)

    def warm_up(self) -> None:
        """Load index, jieba's dictionaries and the model now rather than on the first query, and run the
        query path once per length."""
        _ = self.version
        textnorm.tokenize("预热")  # jieba builds its prefix dictionary on first use (~1 s)
        self.embedder.warm_up()

    # -- search

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        options: SearchOptions | None = None,
    ) -> SearchResponse:
        return self.search_many([query], k, mode, filters, options)[0]

    def search_many(
        self,
        queries: list[str],
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        options: SearchOptions | None = None,
    ) -> list[SearchResponse]:
        """Parse each query (indexer.query), embed them in one batch, rank, count and page each."""
        cleaned = [validate_request(q, k, mode, self.settings)[0] for q in queries]
        if not cleaned:
            return []
        version = self.version  # one version for the whole batch, even if a switch happens meanwhile
        known = tuple(sorted(set(version.doc_type) | set(TYPES)))
        parsed = [query_lang.parse(q, known) for q in cleaned]
        if mode != "lexical":  # 去年 / last year read as the year it is
            parsed = [self.hybrid.with_absolute_years(pq) for pq in parsed]
        embedder = self.embedder if mode != "lexical" else None  # loading the model is not query time
        f, opts = filters or Filters(), options or SearchOptions()
        b = limits.current()
        # The batch lane works in small slices, giving way to interactive requests between them.
        step = max(1, self.settings.batch_slice) if b is not None and b.lane == limits.BATCH else len(cleaned)
        responses = []
        for start in range(0, len(cleaned), step):
            limits.checkpoint("the search")
            part = list(zip(cleaned, parsed))[start : start + step]
            with self._search_gate.hold("a search slot"):
                responses += self._search_part(version, part, embedder, k, mode, f, opts)
        return responses

    def _search_part(self, version, part, embedder, k, mode, f: Filters, opts: SearchOptions) -> list[SearchResponse]:
        """Embed a slice of queries in one call, then rank each (inside a search slot)."""
        t0 = time.perf_counter()
        texts = [pq.text or q for q, pq in part]
        qvecs = embedder.encode_queries(texts) if embedder is not None else None
        shared_ms = (time.perf_counter() - t0) * 1000 / len(part)
        limits.checkpoint("the search")
        responses = []
        for i, (q, pq) in enumerate(part):
            t1 = time.perf_counter()
            response = self._search_one(version, q, pq, None if qvecs is None else qvecs[i], k, mode, f, opts)
            response.took_ms = shared_ms + (time.perf_counter() - t1) * 1000
            responses.append(response)
        return responses

    def scan(self, version: IndexReader) -> query_lang.PassageScan:
        """The folded passage texts of `version`, built once per version (phrase and exclusion tests)."""
        cached = self._scan
        if cached is not None and cached[0] is version:
            return cached[1]
        with self._lock:
            if self._scan is None or self._scan[0] is not version:
                self._scan = (version, query_lang.PassageScan(passage_texts(version)))
            return self._scan[1]

    def row_mask(self, version: IndexReader, f: Filters, pq: query_lang.ParsedQuery | None = None, years: bool = True):
        """Rows allowed by the filters, the query's inline filters and the reader's collections (access).

        A plain boolean array (never a backend's own mask type) so it can be combined further; None: all rows.
        """
        y0, y1, types = (f.year_from, f.year_to, set(f.doc_types))
        if pq is not None:
            y0 = max(filter(None, (y0, pq.year_from)), default=None)
            y1 = min(filter(None, (y1, pq.year_to)), default=None)
            if pq.types:
                types = (types & set(pq.types)) if types else set(pq.types)
                types = types or {"\0none"}
        if not years:
            y0 = y1 = None
        mask = version.allowed_rows(f.narrowed_doc_ids(version), y0, y1, tuple(sorted(types)), f.scope())
        return None if mask is None else np.array(mask, dtype=bool)

    def _search_one(self, version, query, pq, qvec, k, mode, f: Filters, opts: SearchOptions) -> SearchResponse:
        scan = self.scan(version) if pq.constrained else None
        cmask = scan.constraint_mask(pq) if scan is not None else None
        mask = and_masks(self.row_mask(version, f, pq), cmask)
        tokens = textnorm.tokenize(pq.text) if pq.text else []
        deep = opts.sort != "relevance" or opts.group
        depth = max(self.settings.candidate_pool, opts.offset + k, self.settings.facet_depth if deep else 0)
        counted = bool(pq.text) and not pq.required and mode != "lexical"  # _match_set reads the dense hits
        dense = DenseHits(version, qvec, mask, self.settings.facet_depth if counted else 0)
        hq = self.hybrid.read(version, pq.text, tokens) if mode == "hybrid" and pq.text else None
        ranked = self._rank(version, pq, dense, tokens, mode, mask, depth, hq)
        ranked = doc_number_first(version, query, ranked, mask, depth)
        matched, exact = self._match_set(version, pq, dense, tokens, mode, mask, ranked)
        ordered = order_by(version, ranked, matched, opts.sort)
        more = None
        if opts.group:
            ordered, more = group_by_document(version, ordered, matched)
        page = ordered[opts.offset : opts.offset + k]
        results = self._results(version, page, tokens, qvec, query, start=opts.offset + 1)
        for r in results:
            r.more_in_doc = int(more.get(r.doc_id, 0)) if more is not None else 0
            r.weak = r.weak and not pq.required  # a passage holding the asked-for phrase is no weak match
        span = None
        if pq.required and (pq.year_from or pq.year_to or f.year_from or f.year_to):
            span = np.flatnonzero(and_masks(self.row_mask(version, f, pq, years=False), cmask))
        elif pq.required:
            span = matched
        c = facets.counts(version, matched)
        threshold = self.settings.weak_match_threshold
        best = max((r.similarity or 0.0 for r in results), default=0.0)  # any listed passage above the line
        weak = qvec is not None and bool(pq.text) and not pq.required and best < threshold
        return SearchResponse(
            query=query, took_ms=0.0, mode=mode, results=results,
            total=c["total"], total_relation="eq" if exact else "gte", documents_total=c["documents_total"],
            facets=c["facets"], timeline=facets.timeline(version, matched, span), parsed=pq.to_dict(),
            expanded=self.hybrid.expanded(hq),
            weak=weak, weak_threshold=threshold if qvec is not None else None,
            sort=opts.sort, group=opts.group, offset=opts.offset,
        )  # fmt: skip

    def _rank(
        self, version, pq, dense_hits: DenseHits, tokens, mode, mask, depth, hq: HybridQuery | None = None
    ) -> list[tuple[int, float]]:
        """Relevance order of the best `depth` candidates within `mask` (the mode's own scores; `hq`: hybrid's)."""
        if mask is not None and not mask.any():
            return []
        if not pq.text:  # only filters: every allowed passage, in index order
            rows = np.flatnonzero(mask) if mask is not None else np.arange(version.n_chunks)
            return [(int(r), 0.0) for r in rows[:depth]]
        if mode == "dense":
            rows, scores = dense_hits.top(depth)
            return list(zip(rows.tolist(), scores.tolist()))
        if mode == "lexical":
            rows, scores = version.bm25.search(tokens, depth, mask)
            ranked = list(zip(rows.tolist(), scores.tolist()))
            if pq.required:  # a phrase of stopwords has no BM25 terms: the phrase itself is the match
                seen = {r for r, _ in ranked}
                rest = np.flatnonzero(mask)
                ranked += [(int(r), 0.0) for r in rest[: depth + len(seen)] if int(r) not in seen]
            return ranked[:depth]
        dense = dense_hits.top(depth)
        lexical, lexical_weight = self.hybrid.lexical_side(version, hq, dense, depth, mask)
        rankings = [dense, lexical]
        weights = [1.0, lexical_weight]
        sentences = RowSentences.of(version) if self.settings.sentence_weight > 0 else None
        if sentences is not None:  # the best sentence's similarity as a third signal (off by default)
            rankings.append(sentence_ranking(sentences, rankings, weights, dense_hits.qvec))
            weights.append(self.settings.sentence_weight)
        if self.settings.fusion == "sum":
            ranked = score_fuse(rankings, weights)[:depth]
        else:
            ranked = rrf_fuse([r[0] for r in rankings], self.settings.rrf_k, weights)[:depth]
        return self.hybrid.prefer_years(version, hq, ranked)

    def _match_set(self, version, pq, dense_hits: DenseHits, tokens, mode, mask, ranked) -> tuple[np.ndarray, bool]:
        """The passages counted in `total` and the facets, and whether the count is exact.

        A phrase/OR query: every passage meeting it. Keyword mode: every passage holding a query word.
        Otherwise (a plain question, meaning-based): the passages above the weak-match line, looked
        for to `facet_depth` deep (the count is then "at least" when that depth was reached).
        """
        if pq.required or not pq.text:
            rows = np.flatnonzero(mask) if mask is not None else np.arange(version.n_chunks)
            return rows, True
        if mode == "lexical":
            # BM25 in Milvus (sparse vectors, `max_hits`): every hit crosses the network, so keyword mode counts
            # facet_depth deep there (then "at least"), as a plain question does.
            in_store = hasattr(version.bm25, "max_hits")
            depth = min(version.n_chunks, self.settings.facet_depth) if in_store else version.n_chunks
            rows, _ = version.bm25.search(tokens, depth, mask)
            return np.sort(rows), not in_store or rows.size < depth
        depth = self.settings.facet_depth
        rows, scores = dense_hits.top(depth)
        keep = scores >= self.settings.weak_match_threshold
        exact = bool(rows.size < depth or not keep.all())
        return np.sort(rows[keep]), exact

    def _results(self, version, page, tokens, qvec, query, start: int = 1) -> list[SearchResult]:
        chunks = version.chunks_at([row for row, _ in page])
        folded = [textnorm.fold(c.text) for c in chunks]  # once per passage: both sentence marks use it
        results = [
            self._result(rank, score, chunk, tokens, version, text)
            for rank, ((_, score), chunk, text) in enumerate(zip(page, chunks, folded), start=start)
        ]
        if qvec is not None and page:
            q = np.asarray(qvec, dtype=np.float32).ravel()
            threshold = self.settings.weak_match_threshold
            for r, (row, _) in zip(results, page):
                r.similarity = round(float(np.dot(np.asarray(version.vector(row), dtype=np.float32), q)), 6)
                r.weak = r.similarity < threshold
        sentences = RowSentences.of(version) if qvec is not None and page else None
        if sentences is not None:  # stored at index time: no model call
            mark_stored_sentences(results, [row for row, _ in page], tokens, qvec, sentences, folded)
        elif qvec is not None and page and not has_chinese(query):  # cross-lingual: no word can match, meaning can
            with limits.optional_step():
                mark_sentences_by_meaning(results[: self.settings.sentence_by_meaning_top], tokens, qvec,
                                          self._sentences, self.embedder.encode_passages, self.settings.sentence_max)
        return results

    @staticmethod
    def _result(
        rank: int, score: float, chunk: Chunk, tokens: list[str], version: IndexReader, folded: str | None = None
    ) -> SearchResult:
        s, e = best_sentence(chunk.text, tokens, version.bm25.term_idf, folded)
        meta = version.doc_meta[version.doc_index_of[chunk.doc_id]]
        return SearchResult(
            rank=rank,
            score=round(float(score), 6),
            doc_id=chunk.doc_id,
            title=chunk.title,
            heading_path=chunk.heading_path,
            text=chunk.text,
            chunk_id=chunk.chunk_id,
            start=chunk.start,
            end=chunk.end,
            best_sentence=chunk.text[s:e],
            best_sentence_start=s,
            best_sentence_end=e,
            page=chunk.page,
            meta=meta,
        )

    def similar(
        self, chunk_id: str, k: int = 10, filters: Filters | None = None, same_document: bool = False
    ) -> SearchResponse | None:
        """Passages closest in meaning to an indexed passage (itself excluded); None if unknown.

        By default they come from other documents, one per document and spread over years where the
        index allows (a report's neighbouring paragraphs are not what a comparison needs);
        `same_document` looks inside the passage's own document instead.
        """
        t0 = time.perf_counter()
        version = self.version
        f = filters or Filters()
        readable = access.narrow(f.readable)
        # A passage id names its document (`doc#n`): one outside the reader's collections is turned away
        # before any lookup, down the same path (and in the same time) as an id that does not exist.
        if readable is not None and not access.visible(version, chunk_id.rpartition("#")[0], readable):
            return None
        row = version.row_of(chunk_id)
        source = version.chunks_at([row])[0] if row is not None else None
        if source is None or not access.visible(version, source.doc_id, readable):
            return None  # a passage the reader may not see is, to them, no passage at all
        own = int(version.row_doc[row])
        if same_document:
            f = dataclasses.replace(f, doc_ids=(version.doc_ids[own],))
        allowed = self.row_mask(version, f)
        depth = k + 1 if same_document else max(10 * k, 100)
        rows, scores = version.dense(version.vector(row), depth, allowed)
        ranked = [(r, s) for r, s in zip(rows.tolist(), scores.tolist()) if r != row]
        if not same_document:
            ranked = spread_neighbours(version, ranked, own, k)
        ranked = ranked[:k]
        tokens = textnorm.tokenize(source.text)
        chunks = version.chunks_at([r for r, _ in ranked])
        results = [
            self._result(rank, score, chunk, tokens, version)
            for rank, ((_, score), chunk) in enumerate(zip(ranked, chunks), start=1)
        ]
        for r, (_, score) in zip(results, ranked):
            r.similarity = round(float(score), 6)
        took = (time.perf_counter() - t0) * 1000
        return SearchResponse(query=source.text[:80], took_ms=took, mode="similar", results=results)

    @staticmethod
    def _read_problem(v: IndexReader) -> str:
        """Why the live version cannot be read, after a real read of its first and last passage ('' if fine)."""
        try:
            if v.n_chunks:
                v.chunks_at([0, v.n_chunks - 1])
        except Exception as exc:  # sqlite3.DatabaseError, OSError, a Milvus error ...
            return f"index version {v.name} cannot be read: {type(exc).__name__}: {exc}"
        return ""

    def term_idf(self, term: str) -> float:
        """BM25 idf of a folded term in the live version (0 when the index does not know it)."""
        return self.version.bm25.term_idf(term)

    # -- browsing

    # Every browsing call takes the reader's scope (indexer.access; None: no limit): a document outside it
    # is answered exactly like one that does not exist.

    def documents(self, scope: access.Scope = None) -> list[dict]:
        version = self.version
        listing = version.documents()
        mask = access.doc_mask(version, scope)
        return listing if mask is None else [d for d, ok in zip(listing, mask.tolist()) if ok]

    def document(self, doc_id: str, scope: access.Scope = None) -> Document | None:
        version = self.version
        return version.document(doc_id) if access.visible(version, doc_id, scope) else None

    def chunks_of(self, doc_id: str, scope: access.Scope = None) -> list[Chunk]:
        version = self.version
        return version.chunks_of(doc_id) if access.visible(version, doc_id, scope) else []

    def collections(self, scope: access.Scope = None) -> list[str]:
        """Collections holding at least one document the scope can see."""
        names = access.collection_names(self.version)
        return names if scope is None else [n for n in names if n in scope]

    def health(self, scope: access.Scope = None) -> dict:
        """Status `ok`, or `degraded` with the reason: the newest version cannot be opened (the previous
        one still serves), or the live version cannot be read (a real read of one passage is tried)."""
        v = self.version
        problems = []
        f = self._failure
        if f is not None and f.name == self.store.current_name() and f.name != v.name:
            problems.append(f"newest index version {f.name} cannot be opened (still serving {v.name}): {f.error}")
        unreadable = self._read_problem(v)
        if unreadable:
            problems.append(unreadable)
        mask = access.doc_mask(v, scope)
        n_docs = len(v.doc_ids) if mask is None else int(mask.sum())
        rows = v.allowed_rows(collections=scope)
        return {
            "status": "degraded" if problems else "ok",
            **({"reason": "; ".join(problems), "readable": not unreadable} if problems else {}),
            "version": v.name,
            "documents": n_docs,
            "chunks": v.n_chunks if rows is None else int(np.count_nonzero(rows)),
            "model": v.manifest.get("model"),
            "dim": v.manifest.get("dim"),
            "created": v.manifest.get("created"),
            "store": self._store_stats(),
        }

    def _store_stats(self) -> dict:
        """Backend facts (segments, deleted rows, where lexical search runs); {} when the store cannot say."""
        try:
            stats = self.store.stats()
        except Exception:  # health must answer even when e.g. a Milvus server is slow to reply
            return {}
        # Only what says how the store works: no counts or sizes (they could hint at documents out of scope).
        return {k: stats[k] for k in ("backend", "lexical", "server", "scalar_index") if k in stats}
