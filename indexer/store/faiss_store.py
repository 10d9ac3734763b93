"""The FAISS + SQLite backend: an index is a set of immutable segments plus one small manifest.

Layout of the index folder::

    CURRENT               the live manifest (JSON), replaced with one os.replace: publishing is one rename
    manifests/<name>.json copies of recent manifests (segments they list are kept for readers still on them)
    segments/<name>/      immutable segments (segments.py)
    .lock                 held by a writer so two indexers never interleave

The manifest lists the live segments in order and, per segment, its deleted documents (by local number; their
rows follow). `add` writes one new segment, `delete` writes only a manifest, a tiered merge policy joins
neighbouring segments of like size after a write (or all of them with `optimize`), and a full build writes one
segment. Readers open one manifest (a snapshot) and never mix two. Rows are numbered over the live rows of the
segments in order, BM25 uses statistics summed over live rows, so a search ranks exactly like a one-segment
build of the same documents. A crash at any point leaves CURRENT on the last published manifest; the next
writer removes unfinished segment folders and segments no kept manifest lists.

An index written before segments (CURRENT holding a name, `versions/<name>/`) is still read (legacy.py); the
first write converts it.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import faiss
import numpy as np

from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store import legacy
from indexer.store.core import (
    MANIFEST_KEYS,
    DocTable,
    IndexContent,
    VectorIndexParams,
    atomic_write_text,
    faiss_search,
    file_lock,
)
from indexer.store.segments import Segment, file_signature, write_segment

LAYOUT = "segments"
LEXICAL_MODE = "in-process BM25 over segment postings (index-wide statistics)"

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


# ---------------------------------------------------------------- reading


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


# ---------------------------------------------------------------- writing


@dataclass(frozen=True)
class MergePolicy:
    """Tiered by size: `factor` neighbouring segments in the same size tier (rows / floor_rows, in powers of
    `factor`) are merged into one; a segment with more than `max_deleted` of its rows deleted is rewritten.
    Only neighbours merge, so row order (and with it tie order) stays that of a fresh build."""

    factor: int = 8
    floor_rows: int = 2000
    max_deleted: float = 0.5

    def tier(self, rows: int) -> int:
        return 0 if rows <= self.floor_rows else int(math.log(rows / self.floor_rows, self.factor)) + 1

    def pick(self, segments: list[dict]) -> tuple[int, int] | None:
        """(first, end) of the segments to merge next, or None."""
        live = [s["rows"] - s.get("deleted_rows", 0) for s in segments]
        tiers = [self.tier(n) for n in live]
        start = 0
        for i in range(1, len(segments) + 1):
            if i == len(segments) or tiers[i] != tiers[start]:
                if i - start >= self.factor:
                    return start, start + self.factor
                start = i
        for i, s in enumerate(segments):
            if s["rows"] and s.get("deleted_rows", 0) > self.max_deleted * s["rows"]:
                return i, i + 1
        return None


@dataclass(frozen=True)
class FaissStore:
    """FAISS + SQLite segments under one folder (IndexStore); see the module docstring."""

    stores_sentences: ClassVar[bool] = True  # sentence vectors ride along as extension arrays (extras)
    index_dir: Path
    keep_versions: int = 3
    vector_params: VectorIndexParams | None = None  # None: the defaults (open_store passes the Settings')
    policy: MergePolicy = MergePolicy()
    merge_on_write: bool = True
    search_threads: int = 1  # segments searched at once (Settings.faiss_search_threads)

    # -- IndexStore

    def lock(self) -> contextlib.AbstractContextManager:
        return file_lock(self.index_dir / ".lock", self.remove_leftovers)

    def current_name(self) -> str | None:
        m = read_manifest(self.index_dir)
        return None if m is None else m.get("legacy") or m.get("name")

    def open_current(self):
        m = read_manifest(self.index_dir)
        if m is None:
            raise IndexNotFoundError(
                f"no index in {self.index_dir}: build one with `make index` or `python -m indexer build`"
            )
        if "legacy" in m:
            return legacy.open_version(self.index_dir, m["legacy"])
        if m.get("layout") != LAYOUT:
            raise IndexCorruptError(f"{self.index_dir}/CURRENT is not a manifest this program reads; rebuild the index")
        return SegmentedReader(self.index_dir, m, self.search_threads)

    def write(self, content: IndexContent, manifest: dict) -> str:
        dim = int(manifest["dim"])
        content.check(dim)
        seg = self._new_segment(content, dim)
        return self._publish(manifest, [seg])

    def write_segments(self, parts: list[IndexContent], manifest: dict) -> str:
        """Replace the index by `parts` as that many segments, published at once (as if grown by adds and
        merges: each segment sits beside the others, so its vector index follows the segment threshold)."""
        dim = int(manifest["dim"])
        parts = [p for p in parts if p.chunks or p.documents]
        for part in parts:
            part.check(dim)
        ids = [d.doc_id for part in parts for d in part.documents]
        if len(set(ids)) != len(ids):
            raise ValueError("a document id occurs in two parts")
        return self._publish(manifest, [self._new_segment(p, dim, alone=len(parts) == 1) for p in parts])

    def add(self, content: IndexContent, manifest: dict, replace: tuple[str, ...] = ()) -> str:
        current = read_manifest(self.index_dir)
        if current is None or "legacy" in current:
            return self._rewrite_legacy(current, content, manifest, replace)
        dim = int(current["dim"])
        content.check(dim)
        segments = self._with_deletions(current, set(replace))
        if content.chunks or content.documents:
            segments.append(self._new_segment(content, dim, alone=not any(map(_live, segments))))
        name = self._publish(current, segments)
        if self.merge_on_write:
            name = self.merge(name)
        return name

    def delete(self, doc_ids: tuple[str, ...]) -> str:
        current = self._current_or_raise()
        if "legacy" in current:
            base = legacy.open_version(self.index_dir, current["legacy"])
            return self.write(base.content().rows_where(lambda d: d not in set(doc_ids)), base.manifest)
        segments = self._with_deletions(current, set(doc_ids))
        if segments == current["segments"]:
            return current["name"]
        name = self._publish(current, segments)
        return self.merge(name) if self.merge_on_write else name

    def optimize(self) -> str:
        """Merge every segment into one, dropping deleted rows (the same rankings, one ANN index)."""
        current = self._current_or_raise()
        if "legacy" in current:
            base = legacy.open_version(self.index_dir, current["legacy"])
            return self.write(base.content(), base.manifest)
        if len(current["segments"]) <= 1 and not any(s.get("deleted") for s in current["segments"]):
            return current["name"]
        return self._merge_range(current, 0, len(current["segments"]))

    def merge(self, name: str | None = None) -> str:
        """Apply the merge policy until it has nothing to do; return the live version's name."""
        current = self._current_or_raise()
        while (span := self.policy.pick(current["segments"])) is not None:
            self._merge_range(current, *span)
            current = self._current_or_raise()
        return current["name"]

    def stats(self) -> dict:
        m = read_manifest(self.index_dir) or {}
        segs = m.get("segments", [])
        return {
            "backend": "faiss",
            "segments": len(segs) if "legacy" not in m else 1,
            "deleted_rows": sum(s.get("deleted_rows", 0) for s in segs),
            "bytes": sum(s.get("bytes", 0) for s in segs),
            "lexical": LEXICAL_MODE,
        }

    # -- helpers

    def _current_or_raise(self) -> dict:
        m = read_manifest(self.index_dir)
        if m is None:
            raise IndexNotFoundError(f"no index in {self.index_dir}: build one with `python -m indexer build`")
        return m

    def _rewrite_legacy(self, current, content, manifest, replace) -> str:
        """No index yet, or a pre-segment one: write everything as one segment."""
        if current is None:
            return self.write(content, manifest)
        base = legacy.open_version(self.index_dir, current["legacy"])
        drop = set(replace)
        kept = base.content().rows_where(lambda d: d not in drop)
        return self.write(IndexContent.concat([kept, content], int(base.manifest["dim"])), base.manifest)

    def _new_segment(self, content: IndexContent, dim: int, alone: bool = True) -> dict:
        folder = self.index_dir / "segments"
        folder.mkdir(parents=True, exist_ok=True)
        numbers = [p.name.removeprefix(".tmp-")[1:] for p in folder.iterdir()]
        seq = max((int(n) for n in numbers if n.isdigit()), default=0) + 1
        meta = write_segment(folder, f"s{seq:06d}", content, dim, self.vector_params, alone)
        return {
            "name": meta["name"],
            "rows": meta["rows"],
            "documents": meta["documents"],
            "deleted": [],
            "deleted_rows": 0,
            "bytes": meta["bytes"],
            "vector_index": meta["vector_index"],
        }

    def _with_deletions(self, current: dict, drop: set[str]) -> list[dict]:
        """The manifest's segment list with the documents in `drop` marked deleted (only a manifest changes)."""
        out = []
        for entry in current["segments"]:
            seg = open_segment(self.index_dir / "segments" / entry["name"])
            gone = set(entry.get("deleted", []))
            hit = [i for i, d in enumerate(seg.doc_ids) if d in drop and i not in gone] if drop else []
            if hit:
                gone |= set(hit)
                entry = dict(entry, deleted=sorted(gone), deleted_rows=int(np.isin(seg.row_doc, sorted(gone)).sum()))
            out.append(entry)
        return out

    def _merge_range(self, current: dict, lo: int, hi: int) -> str:
        """Segments lo..hi-1 rewritten as one (deleted rows dropped), published in their place."""
        reader = SegmentedReader(self.index_dir, current)
        parts = [reader.segment_content(s) for s in range(lo, hi)]
        merged = IndexContent.concat(parts, int(current["dim"]))
        segments = list(current["segments"])
        alone = not any(map(_live, segments[:lo] + segments[hi:]))
        new = [self._new_segment(merged, int(current["dim"]), alone)] if merged.documents else []
        segments[lo:hi] = new
        return self._publish(current, segments)

    def _publish(self, base: dict, segments: list[dict]) -> str:
        """Write the manifest for `segments` and switch CURRENT to it (the one rename readers can see)."""
        manifests = self.index_dir / "manifests"
        manifests.mkdir(parents=True, exist_ok=True)
        seq = max((int(p.name[1:7]) for p in manifests.glob("g*.json") if p.name[1:7].isdigit()), default=0) + 1
        name = f"g{seq:06d}-" + time.strftime("%Y%m%d-%H%M%S")
        full = {k: base[k] for k in MANIFEST_KEYS if k in base}
        full.update(
            format=2,
            layout=LAYOUT,
            name=name,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            chunks=sum(s["rows"] - s.get("deleted_rows", 0) for s in segments),
            n_documents=sum(s["documents"] - len(s.get("deleted", [])) for s in segments),
            segments=segments,
            lexical=LEXICAL_MODE,
            vector_index=max(segments, key=lambda s: s["rows"])["vector_index"] if segments else {"type": "flat"},
        )
        text = json.dumps(full, ensure_ascii=False, indent=1)
        atomic_write_text(manifests / f"{name}.json", text)
        atomic_write_text(self.index_dir / "CURRENT", text)  # the publishing rename
        self._prune()
        return name

    def _kept_segments(self) -> set[str]:
        """Segments listed by CURRENT or by one of the last keep_versions manifests."""
        current = read_manifest(self.index_dir) or {}
        keep = {s["name"] for s in current.get("segments", [])}
        recent = sorted((self.index_dir / "manifests").glob("g*.json"))[-max(self.keep_versions, 1) :]
        for p in recent:
            with contextlib.suppress(OSError, ValueError):
                keep |= {s["name"] for s in json.loads(p.read_text(encoding="utf-8"))["segments"]}
        return keep

    def _prune(self) -> None:
        """Drop manifests beyond keep_versions, segments none of the kept ones lists, and legacy versions."""
        manifests = sorted((self.index_dir / "manifests").glob("g*.json"))
        for old in manifests[: max(0, len(manifests) - max(self.keep_versions, 1))]:
            old.unlink(missing_ok=True)
        keep = self._kept_segments()
        for seg in _dirs(self.index_dir / "segments"):
            if not seg.name.startswith(".") and seg.name not in keep:
                shutil.rmtree(seg, ignore_errors=True)
        if (self.index_dir / "versions").is_dir() and len(manifests) >= self.keep_versions:
            shutil.rmtree(self.index_dir / "versions", ignore_errors=True)

    def remove_leftovers(self) -> list[str]:
        """What a killed writer left: unfinished segment folders, unpublished manifests and segments, temp files.

        Only a writer holding the lock creates them, so the next lock holder knows they are dead.
        """
        removed = legacy.remove_leftovers(self.index_dir)
        current = read_manifest(self.index_dir) or {}
        live_seq = int(current["name"][1:7]) if current.get("layout") == LAYOUT else 0
        for p in sorted((self.index_dir / "manifests").glob("g*.json")):
            if p.name[1:7].isdigit() and int(p.name[1:7]) > live_seq:
                p.unlink(missing_ok=True)
                removed.append(p.name)
        for tmp in [*_tmp_files(self.index_dir), *_tmp_files(self.index_dir / "manifests")]:
            tmp.unlink(missing_ok=True)
            removed.append(tmp.name)
        keep = self._kept_segments()
        for seg in _dirs(self.index_dir / "segments"):
            if seg.name.startswith(".tmp-") or seg.name not in keep:
                shutil.rmtree(seg, ignore_errors=True)
                removed.append(seg.name)
        return removed


def _live(entry: dict) -> bool:
    """A manifest's segment entry still holds live rows."""
    return entry["rows"] - entry.get("deleted_rows", 0) > 0


def _dirs(folder: Path) -> Iterator[Path]:
    return (p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else iter(())


def _tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.glob(".*.tmp") if p.is_file()] if folder.is_dir() else []
