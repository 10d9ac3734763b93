"""Incremental writes, measured: add 10 documents and remove 10 documents at N chunks (real chunks, then synthetic
ones, as the size bench), bytes written and seconds per backend; and search latency over 10 segments against one.

    python -m indexer.tools.bench.incremental [--index data/index] [--sizes 5000 100000 1000000]
        [--backends faiss milvus-lite] [--out data/bench/incremental.json]
    python -m indexer.tools.bench.incremental --chunks 1000000 --backends faiss   (`make bench-1m`)

Vectors come with the synthetic documents (no embedding is timed: an add costs this plus the embedding of the new
documents' chunks). Bytes written: the size of every file created or changed under the index folder (for Milvus
Lite: its data folder). Search: 60 queries made of real chunk tokens and random unit vectors, dense / lexical /
hybrid through SearchEngine, p50 in ms, on one segment and on the same rows in 10 segments. The one-segment
index is the FAISS folder the write measurement leaves (its big segment; the added segment is fully deleted by
the remove and dropped by the merge policy), so a size is built with HNSW once, not twice: at 1M chunks that
build is most of the run. The synthetic content is freed before the indexes are searched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, Settings
from indexer.store import FaissStore, IndexContent, open_current
from indexer.tools.bench.output import report

MOVED = 10  # documents added and removed per measurement
MANIFEST_KEYS = ("model", "dim", "chunker", "chunking")


class RandomQueries:
    """An embedder stand-in: random unit query vectors of the index's width (search cost, not quality)."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim
        self._rng = np.random.default_rng(0)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        v = self._rng.normal(size=(len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            p = Path(root) / n
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def written(before: dict, after: dict) -> int:
    return sum(size for p, (size, mtime) in after.items() if before.get(p) != (size, mtime))


def split_last(content: IndexContent, k: int) -> tuple[IndexContent, IndexContent, tuple[str, ...]]:
    """(content without its last k documents, those k documents, their ids)."""
    moved = tuple(d.doc_id for d in content.documents[-k:])
    drop = set(moved)
    return content.rows_where(lambda d: d not in drop), content.rows_where(lambda d: d in drop), moved


def measure_writes(store, folder: Path, content: IndexContent, manifest: dict, k: int = MOVED) -> dict:
    """Write all but k documents, then time and weigh adding them and removing them."""
    base, extra, moved = split_last(content, k)
    t0 = time.perf_counter()
    with store.lock():
        store.write(base, manifest)
    build_s = time.perf_counter() - t0
    before = snapshot(folder)
    t0 = time.perf_counter()
    with store.lock():
        store.add(extra, manifest)
    add_s = time.perf_counter() - t0
    after_add = snapshot(folder)
    t0 = time.perf_counter()
    with store.lock():
        store.delete(moved)
    remove_s = time.perf_counter() - t0
    after_remove = snapshot(folder)
    return {
        "chunks": len(content.chunks),
        "moved_chunks": len(extra.chunks),
        "build_s": round(build_s, 2),
        "index_bytes": sum(size for size, _ in before.values()),
        "add_s": round(add_s, 3),
        "add_bytes": written(before, after_add),
        "remove_s": round(remove_s, 3),
        "remove_bytes": written(after_add, after_remove),
    }


def search_p50(settings: list[Settings], queries: list[str], name: str, dim: int) -> list[dict]:
    """p50 ms per mode for each index, the indexes timed in turn on every query (a shared machine's load hits
    all of them alike)."""
    from indexer.retrieval import SearchEngine

    engines = [SearchEngine.open(s, embedder=RandomQueries(name, dim)) for s in settings]
    out: list[dict] = [{} for _ in engines]
    for mode in ("dense", "lexical", "hybrid"):
        ms: list[list[float]] = [[] for _ in engines]
        for q in [queries[0], *queries]:
            for i, engine in enumerate(engines):
                t0 = time.perf_counter()
                engine.search(q, k=10, mode=mode)
                ms[i].append((time.perf_counter() - t0) * 1000)
        for i in range(len(engines)):
            out[i][mode] = round(float(np.percentile(ms[i][1:], 50)), 2)  # the first query warms up
    return out


def live_segments(index_dir: Path) -> int:
    version = FaissStore(index_dir).open_current()
    try:
        return sum(1 for rows in version.live_rows if len(rows))
    finally:
        version.close()


def write_ten(ten: Path, content: IndexContent, manifest: dict) -> None:
    """The rows of `content` as 10 segments (no merging)."""
    store = FaissStore(ten, merge_on_write=False)
    docs = [d.doc_id for d in content.documents]
    parts = np.array_split(np.arange(len(docs)), 10)
    for i, part in enumerate(parts):
        wanted = {docs[j] for j in part.tolist()}
        piece = content.rows_where(lambda d, w=wanted: d in w)
        store.write(piece, manifest) if i == 0 else store.add(piece, manifest)


def measure_segments(one: Path, ten: Path, manifest: dict, queries: list[str]) -> dict:
    """Search p50 on one segment and on the same rows in 10 segments."""
    settings = [Settings.from_env({}, index_dir=one), Settings.from_env({}, index_dir=ten)]
    p_one, p_ten = search_p50(settings, queries, manifest["model"], int(manifest["dim"]))
    return {"segments": [live_segments(one), live_segments(ten)], "one_segment_p50_ms": p_one,
            "ten_segments_p50_ms": p_ten}


def bench_size(
    real: IndexContent, manifest: dict, n: int, backends: Sequence[str], work: Path, k: int = MOVED
) -> dict:
    from indexer.tools.bench.synth import SyntheticCorpus

    content = SyntheticCorpus(real, seed=0).content(n)
    queries = [" ".join(t[:6]) or "发展" for t in content.tokens[:: max(1, len(content.tokens) // 60)]][:60]
    out: dict = {"chunks": n, "documents": len(content.documents)}
    for backend in backends:
        folder = work / f"{backend}-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if backend == "faiss":
            store = FaissStore(folder / "index", merge_on_write=True)
            out["faiss"] = measure_writes(store, folder, content, manifest, k)
        else:
            from indexer.store.milvus import MilvusStore

            store = MilvusStore(str(folder / "milvus.db"), f"inc{n}", lock_dir=folder)
            out["milvus_lite"] = measure_writes(store, folder, content, manifest, k)
        log(f"{n} chunks, {backend}: {out.get('faiss' if backend == 'faiss' else 'milvus_lite')}")
    if "faiss" in backends:  # segments are the FAISS backend's
        one = work / f"faiss-{n}" / "index"
        base = split_last(content, k)[0] if live_segments(one) == 1 else None
        if base is None:  # a merge left more than one segment: write the one-segment index
            one = work / f"segments-{n}" / "one"
            FaissStore(one).write(split_last(content, k)[0], manifest)
            base = split_last(content, k)[0]
        del content
        write_ten(work / f"segments-{n}" / "ten", base, manifest)
        del base
        log(f"{n} chunks: ten segments written")
        out["segments"] = measure_segments(one, work / f"segments-{n}" / "ten", manifest, queries)
        log(f"{n} chunks, search: {out['segments']}")
        shutil.rmtree(work / f"segments-{n}", ignore_errors=True)
    return out


def log(msg: str) -> None:
    print(f"[incremental {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(index_dir: Path, sizes: Sequence[int], backends: Sequence[str], work: Path, k: int = MOVED) -> dict:
    real_version = open_current(index_dir)
    real = real_version.content()
    manifest = {k: real_version.manifest[k] for k in MANIFEST_KEYS if k in real_version.manifest}
    results = {"source_index": str(index_dir), "moved_documents": k, "sizes": []}
    for n in sizes:
        results["sizes"].append(bench_size(real, manifest, n, backends, work, k))
    shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.bench.incremental", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=DATA_DIR / "index", help="the real index the chunks come from")
    p.add_argument("--sizes", "--chunks", type=int, nargs="+", default=[5000, 100_000])
    p.add_argument("--backends", nargs="+", default=["faiss", "milvus-lite"], choices=["faiss", "milvus-lite"])
    p.add_argument("--work", type=Path, default=DATA_DIR / "bench" / "incremental-work")
    p.add_argument("--out", type=Path, default=DATA_DIR / "bench" / "incremental.json")
    args = p.parse_args(argv)
    results = run(args.index, args.sizes, args.backends, args.work)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
