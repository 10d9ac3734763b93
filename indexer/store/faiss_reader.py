"""Reading a FAISS + SQLite index: its manifest, and one snapshot of its live segments (SegmentedReader),
searched at once and ranked as a one-segment build would be. Written by FaissStore (faiss_store.py), which
describes the layout."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np

from indexer.errors import IndexCorruptError
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store.core import (
    DocTable,
    IndexContent,
    faiss_search,
)
from indexer.store.segments import Segment, file_signature

_CACHE: dict[str, Segment] = {}
_CACHE_LOCK = threading.Lock()


def read_manifest(index_dir: Path) -> dict | None:
    """The published manifest; None when there is no index; {"legacy": name} for a pre-segment index."""
    try:
        text = (index_dir / "CURRENT").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    if not text.strip():
        return None
    if not text.lstrip().startswith("{"):
        return {"legacy": text.strip()}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IndexCorruptError(f"{index_dir}/CURRENT is damaged: {exc}; rebuild the index") from exc


def open_segment(path: Path) -> Segment:
    """A segment from the process-wide cache while its files are unchanged, else read afresh."""
    key = str(path)
    with _CACHE_LOCK:
        seg = _CACHE.get(key)
    if seg is not None and seg.signature == file_signature(path):
        return seg
    if not path.is_dir():
        raise IndexCorruptError(f"index segment {path.name} listed in the manifest does not exist; rebuild the index")
    seg = Segment(path)
    with _CACHE_LOCK:
        _CACHE[key] = seg
    return seg


class SegmentedReader(DocTable):
    """One manifest's snapshot over its segments (IndexReader)."""

    def __init__(self, index_dir: Path, manifest: dict, search_threads: int = 1):
        self.name = manifest["name"]
        self.search_threads = search_threads
        self.manifest = manifest
        self.path = index_dir
        self.segments = [open_segment(index_dir / "segments" / s["name"]) for s in manifest["segments"]]
        self._bm25: BM25Index | None = None
        self._lock = threading.Lock()
        self.live_docs, self.live_rows, self.rank = [], [], []
        ids, titles, metas, hashes, row_doc = [], [], [], [], []
        self.row_base, self.doc_base = [], []
        total = 0
        for seg, entry in zip(self.segments, manifest["segments"]):
            live_doc = np.ones(len(seg.doc_ids), dtype=bool)
            live_doc[np.asarray(entry.get("deleted", []), dtype=np.int64)] = False
            live = np.flatnonzero(live_doc[seg.row_doc]) if seg.n_rows else np.zeros(0, dtype=np.int64)
            rank = np.full(seg.n_rows, -1, dtype=np.int64)
            rank[live] = np.arange(live.size)
            doc_rank = np.cumsum(live_doc) - 1 + len(ids)
            self.row_base.append(total)
            total += live.size
            self.doc_base.append(len(ids))
            row_doc.append(doc_rank[seg.row_doc[live]])
            for i in np.flatnonzero(live_doc).tolist():
                ids.append(seg.doc_ids[i])
                titles.append(seg.doc_titles[i])
                metas.append(seg.doc_meta[i])
                hashes.append(seg.doc_hash[i])
            self.live_docs.append(live_doc)
            self.live_rows.append(live)
            self.rank.append(rank)
        self.row_doc = np.concatenate(row_doc).astype(np.int32) if row_doc else np.zeros(0, dtype=np.int32)
        self.row_base = np.array(self.row_base, dtype=np.int64)
        self.set_documents(ids, titles, metas, hashes)
        if self.n_chunks != manifest.get("chunks") or len(ids) != manifest.get("n_documents"):
            raise IndexCorruptError(
                f"index version {self.name} is inconsistent: manifest {manifest.get('chunks')} chunks, segments "
                f"{self.n_chunks}; rebuild it with `make index`"
            )

    def preload(self) -> None:
        """Read vectors and build BM25 now (a server does this before switching to the snapshot)."""
        for seg in self.segments:
            _ = seg.faiss
        _ = self.bm25

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is None:
            with self._lock:
                if self._bm25 is None:
                    pairs = zip(self.segments, self.live_rows)
                    parts = [(seg.postings[0][live], seg.postings[1]) for seg, live in pairs]
                    self._bm25 = BM25Index.from_postings(parts)
        return self._bm25

    @property
    def faiss(self):
        """The vector index when there is exactly one segment (tools inspecting it)."""
        if len(self.segments) != 1:
            raise ValueError(f"index version {self.name} has {len(self.segments)} segments; optimize it first")
        return self.segments[0].faiss

    @property
    def hnsw(self) -> bool:
        """True when a segment keeps its vectors in an HNSW graph (approximate; see ef_search)."""
        return any(s.meta["vector_index"].get("type") == "hnsw" for s in self.segments)

    @property
    def ef_search(self) -> int:
        return max((s.ef_search for s in self.segments), default=0)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        for s in self.segments:
            s.ef_search = value

    def close(self) -> None:
        """Segments are shared with newer snapshots of this process: nothing to free here."""

    # -- row numbering

    def _locate(self, rows) -> list[tuple[int, list[int], list[int]]]:
        """Global rows -> [(segment number, positions in `rows`, local rows)]."""
        rows = np.asarray(rows, dtype=np.int64)
        seg_of = np.searchsorted(self.row_base, rows, side="right") - 1
        out = []
        for s in np.unique(seg_of).tolist():
            pos = np.flatnonzero(seg_of == s)
            out.append((s, pos.tolist(), self.live_rows[s][rows[pos] - self.row_base[s]].tolist()))
        return out

    def _global(self, s: int, local: int) -> int | None:
        r = int(self.rank[s][local])
        return None if r < 0 else int(self.row_base[s]) + r

    def _doc(self, doc_id: str) -> tuple[int, int] | None:
        """(segment number, local document number) of a live document."""
        i = self.doc_index_of.get(doc_id)
        if i is None:
            return None
        s = int(np.searchsorted(np.array(self.doc_base), i, side="right") - 1)
        return s, self.segments[s].doc_ids.index(doc_id)

    # -- lookups

    def chunks_at(self, rows: list[int]) -> list[Chunk]:
        out: list[Chunk | None] = [None] * len(rows)
        for s, pos, local in self._locate(rows):
            seg = self.segments[s]
            for p, c in zip(pos, seg.chunks_at(local, seg.doc_ids, seg.doc_titles)):
                out[p] = c
        return out  # type: ignore[return-value]

    def row_of(self, chunk_id: str) -> int | None:
        for s, seg in enumerate(self.segments):
            local = seg.row_of(chunk_id)
            if local is not None and (g := self._global(s, local)) is not None:
                return g
        return None

    def _extras(self, key: str) -> list[np.ndarray | None]:
        """Each segment's extension array `key` (memory-mapped once per reader)."""
        cache = self.__dict__.setdefault("_extra_cache", {})
        if key not in cache:
            cache[key] = [seg.extra(key) for seg in self.segments]
        return cache[key]

    def has_extra(self, key: str) -> bool:
        """True when every segment holds the row-aligned extension array `key` (IndexContent.extras)."""
        return bool(self.segments) and all(a is not None for a in self._extras(key))

    def extra_rows(self, key: str, rows: list[int]) -> np.ndarray:
        """Rows of an extension array in the order given (memory-mapped: only these rows are read)."""
        parts: list[tuple[list[int], np.ndarray]] = []
        for s, pos, local in self._locate(rows):
            parts.append((pos, np.asarray(self._extras(key)[s][np.asarray(local, dtype=np.int64)])))
        out = np.empty((len(rows), *parts[0][1].shape[1:]), dtype=parts[0][1].dtype)
        for pos, arr in parts:
            out[pos] = arr
        return out

    def vector(self, row: int) -> np.ndarray:
        ((s, _, (local,)),) = self._locate([row])
        return self.segments[s].faiss.reconstruct(int(local))

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        found = self._doc(doc_id)
        if found is None:
            return []
        s, local_doc = found
        seg = self.segments[s]
        return seg.chunks_at(seg.rows_of_doc(local_doc), seg.doc_ids, seg.doc_titles)

    def document(self, doc_id: str) -> Document | None:
        found = self._doc(doc_id)
        return None if found is None else self.segments[found[0]].document(found[1])

    def content(self) -> IndexContent:
        dim = int(self.manifest["dim"])
        return IndexContent.concat([seg.content(ld) for seg, ld in zip(self.segments, self.live_docs)], dim)

    def segment_content(self, s: int) -> IndexContent:
        return self.segments[s].content(self.live_docs[s])

    # -- search

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n over every segment (each by its own index type), merged by score.

        Exact segments are asked for n at once. An HNSW segment beside others is first asked for its share of n
        (by the rows it may return, with a margin) with its share of efSearch, and asked again, for twice as many
        each time up to n, while its last hit still makes the merged top-n: the merged list is what asking every
        segment for n would give, at the graph cost of about one index of all rows (ten graphs searched at full
        efSearch cost ten times), and a segment holding most of the hits costs a few short walks, not one of n.
        """
        plan = self._dense_plan(allowed)
        total = sum(count for _, _, count in plan)
        asked = {s: self._share_k(s, n, ok, count, total) for s, ok, count in plan}
        hits = dict(self._each(lambda p: self._segment_dense(p[0], qvec, p[1], asked[p[0]], p[2], total), plan))
        while True:
            rows, scores = _merge_hits(hits.values(), n)
            cutoff = scores[-1] if rows.size >= n else -np.inf
            again = [p for p in plan if _may_hold_more(hits[p[0]][1], asked[p[0]], min(n, p[2]), cutoff)]
            if not again:
                return rows, scores
            asked.update({p[0]: min(n, 2 * asked[p[0]]) for p in again})
            hits.update(self._each(lambda p: self._segment_dense(p[0], qvec, p[1], asked[p[0]], p[2], total), again))

    def _each(self, search: Callable, plan: list) -> list:
        """(segment number, search(plan entry)) for each entry; several graph segments are searched at once on
        the shared pool when `search_threads` > 1 (FAISS releases the GIL), as Lucene searches segments
        concurrently: one graph walk cannot be split, but ten can run side by side on free cores."""
        if self.search_threads <= 1 or sum(self.segments[s].hnsw for s, _, _ in plan) < 2:
            return [(p[0], search(p)) for p in plan]
        return list(zip([p[0] for p in plan], _search_pool(self.search_threads).map(search, plan)))

    def _dense_plan(self, allowed: np.ndarray | None) -> list[tuple[int, np.ndarray | None, int]]:
        """(segment number, local row mask or None for all rows, rows it may return) of each segment to search."""
        plan = []
        for s, seg in enumerate(self.segments):
            live = self.live_rows[s]
            if live.size == 0:
                continue
            ok, count = None, live.size
            if live.size != seg.n_rows or allowed is not None:
                ok = np.zeros(seg.n_rows, dtype=bool)
                base = int(self.row_base[s])
                ok[live] = True if allowed is None else allowed[base : base + live.size]
                count = int(np.count_nonzero(ok))
            if count:
                plan.append((s, ok, count))
        return plan

    def _share_k(self, s: int, n: int, ok: np.ndarray | None, count: int, total: int) -> int:
        """How many hits to ask segment s for first: n when it is searched exactly (flat, or a filter narrow
        enough for exact search), else its share of n by rows with a margin."""
        seg = self.segments[s]
        if not seg.hnsw or count == total or (ok is not None and total <= seg.exact_filter_max):
            return n
        return min(n, math.ceil(SHARE_MARGIN * n * count / total) + SHARE_EXTRA)

    def _segment_dense(self, s: int, qvec: np.ndarray, ok, k: int, count: int, total: int):
        """(global rows, scores) of segment s's top-k; an HNSW segment searches with its share of efSearch."""
        seg = self.segments[s]
        ef = seg.ef_search
        if seg.hnsw and count < total:
            ef = max(seg.ef_search_min, math.ceil(seg.ef_search * count / total))
        filtered_total = None if ok is None else total
        local, scores = faiss_search(seg.faiss, qvec, k, ok, ef, seg.exact_filter_max, filtered_total)
        return self.rank[s][local] + int(self.row_base[s]), scores


def _may_hold_more(found: np.ndarray, asked: int, wanted: int, cutoff: float) -> bool:
    """A segment asked for fewer hits than wanted may hold more of the merged top-n: it returned fewer than
    asked, or its last hit still makes the merged list."""
    return asked < wanted and (found.size < asked or (found.size > 0 and found[-1] >= cutoff))


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _search_pool(threads: int) -> ThreadPoolExecutor:
    """One process-wide pool per size: concurrent queries share its threads, so they never oversubscribe. Its
    threads run FAISS with one OpenMP thread each: a one-query search gains nothing from a team, and two
    teams spinning beside each other on two cores slow both."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(
                threads, thread_name_prefix="segment-search", initializer=faiss.omp_set_num_threads, initargs=(1,)
            )
        return pool


SHARE_MARGIN = 1.25  # an HNSW segment is first asked for 1.25 x its share of the hits, plus SHARE_EXTRA
SHARE_EXTRA = 10


def _merge_hits(hits, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best n of several segments' (global rows, scores), equal scores by row (as in one segment)."""
    hits = list(hits)
    if not hits:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    rows = np.concatenate([r for r, _ in hits])
    scores = np.concatenate([sc for _, sc in hits])
    order = np.lexsort((rows, -scores))[:n]  # equal scores by row, however the rows are split in segments
    return rows[order].astype(np.int64), scores[order]
