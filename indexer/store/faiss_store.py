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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.store import legacy
from indexer.store.core import (
    IndexContent,
    VectorIndexParams,
    atomic_write_text,
    carried_manifest,
    file_lock,
)
from indexer.store.faiss_reader import SegmentedReader, open_segment, read_manifest
from indexer.store.segments import write_segment

LAYOUT = "segments"
LEXICAL_MODE = "in-process BM25 over segment postings (index-wide statistics)"


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
        full = carried_manifest(base)
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
