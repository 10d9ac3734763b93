"""Incremental writes, measured: add 10 documents and remove 10 documents at N chunks (real chunks, then synthetic
ones, as the size bench), bytes written and seconds per backend; and search latency over 10 segments against one.

    python -m indexer.tools.bench.incremental [--index data/index] [--sizes 5000 100000 1000000]
        [--backends faiss milvus-lite milvus-server] [--out data/bench/incremental.json]
    python -m indexer.tools.bench.incremental --chunks 1000000 --backends faiss   (`make bench-1m`)

Backends: `faiss` (segments), `milvus-lite` (a Milvus Lite file) and `milvus-server` (a real Milvus 2.3.5
standalone from the `milvus` wheel, started for each size on a free port with its own data folder and stopped
after; BM25 in the process, as 2.3 has no sparse vectors). Vectors come with the synthetic documents (no
embedding is timed: an add costs this plus the embedding of the new documents' chunks). Bytes written: the size
of every file created or changed under the index folder (for Milvus Lite: its data folder); for the server, whose
message log and metadata store rewrite large preallocated files, the growth of its storage folder (`data/`:
etcd, the rocksmq message log, binlogs and index files; logs and binaries excluded) once it has stopped changing
for a few seconds (the server flushes and indexes asynchronously), and the files-changed sum beside it.

Search: 60 queries made of real chunk tokens and random unit vectors, dense / lexical / hybrid through
SearchEngine, p50 in ms, on one segment and on the same rows in 10 segments. The one-segment index is the FAISS
folder the write measurement leaves (its big segment; the added segment is fully deleted by the remove and
dropped by the merge policy), so a size is built with HNSW once, not twice: at 1M chunks that build is most of
the run. The synthetic content is freed before the indexes are searched. Dense recall@10 against exact search
(the depth the engine asks for, `candidate_pool` 100, cut at 10) is measured on both with 60 in-distribution query
vectors (the mean of two passage vectors plus noise). The ten segments are written in one manifest, each beside
the others (`FaissStore.write_segments`), as adds and merges leave them: above `faiss_segment_hnsw_threshold`
rows each is an HNSW graph. FAISS vector index parameters come from the environment (`POLICY_SEARCH_FAISS_*`, as
for `python -m indexer`). `--keep-work` keeps the work folder and reuses a one- or ten-segment index of the same
rows left there by an earlier run (builds are most of a 1M run).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, Settings
from indexer.store import FaissStore, IndexContent, VectorIndexParams, carried_manifest, open_current
from indexer.tools.bench.output import report

MOVED = 10  # documents added and removed per measurement
BACKENDS = ["faiss", "milvus-lite", "milvus-server"]
SERVER_SETTLE_S = 15.0  # a Milvus server's storage is weighed this long after a write returned


class RandomQueries:
    """An embedder stand-in: random unit query vectors of the index's width (search cost, not quality), drawn from
    the query text, so every variant timed on a query searches the same vector."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        v = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dim) for t in texts])
        v = v.astype(np.float32)
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


def total(snap: dict) -> int:
    return sum(size for size, _ in snap.values())


STORAGE_DIRS = ("insert_log", "delta_log", "stats_log", "index_files")  # a Milvus server's segment files


def server_bytes(folder: Path, before: dict, after: dict) -> dict:
    """What a Milvus server wrote between two snapshots of its storage folder: new or changed segment files
    (binlogs, index files: in a cluster, the object store's share) and the growth of the rest (the rocksmq message
    log, which also takes the server's idle time ticks, about 1.5 kB/s, and etcd)."""
    segment_files = other = 0
    for path, (size, mtime) in after.items():
        top = Path(path).relative_to(folder).parts[0]
        if top in STORAGE_DIRS:
            segment_files += size if before.get(path) != (size, mtime) else 0
        else:
            other += size - before.get(path, (0, 0))[0]
    return {"bytes": segment_files + other, "segment_files": segment_files, "log_and_meta": other}


def measure_writes(
    store, folder: Path, parts: list, manifest: dict, settle_s: float = 0.0,
    fresh: Callable[[], object] | None = None, release: bool = False,
) -> dict:
    """Write all but the moved documents, then time and weigh adding them and removing them.

    `parts`: [content without the moved documents, the moved documents, their ids] (split_last). `release`: no
    later measurement needs the first, so it is dropped once written (at 1M chunks, gigabytes the server and
    readers need). settle_s > 0: `folder` is a Milvus server's storage, weighed `settle_s` seconds after each
    write returned (the server flushes and indexes in the background) with server_bytes. `fresh` (Milvus): a new
    store on the same collection; then a reader is opened after each write twice, by the store that opened the
    previous generation (it reads only what changed) and by a fresh one (it reads everything), both timed."""
    base, extra, moved = parts
    out = {"chunks": len(base.chunks) + len(extra.chunks), "moved_chunks": len(extra.chunks)}
    t0 = time.perf_counter()
    with store.lock():
        store.write(base, manifest)
    out["build_s"] = round(time.perf_counter() - t0, 2)
    log(f"{out['chunks']} chunks: built in {out['build_s']} s")  # a long run's progress, should it be cut short
    if release:
        del base
        parts[0] = None
    time.sleep(settle_s)
    if fresh is not None:
        out["open_s"] = timed(store.open_current)
    for op, write in (("add", lambda: store.add(extra, manifest)), ("remove", lambda: store.delete(moved))):
        before = snapshot(folder)
        if op == "add":
            out["index_bytes"] = total(before) if not settle_s else sum(
                v[0] for p, v in before.items() if Path(p).relative_to(folder).parts[0] in STORAGE_DIRS)
        t0 = time.perf_counter()
        with store.lock():
            write()
        out[f"{op}_s"] = round(time.perf_counter() - t0, 3)
        time.sleep(settle_s)
        after = snapshot(folder)
        if settle_s:
            weighed = server_bytes(folder, before, after)
            out[f"{op}_bytes"], out[f"{op}_bytes_split"] = weighed.pop("bytes"), weighed
        else:
            out[f"{op}_bytes"] = written(before, after)
        if fresh is not None:
            out[f"reload_after_{op}_s"] = timed(store.open_current)
            out[f"fresh_open_after_{op}_s"] = timed(fresh().open_current)
        log(f"{out['chunks']} chunks, after the {op}: {out}")
    if settle_s:
        out["settle_s"] = settle_s
    return out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 3)


def measure_server(folder: Path, parts: list, manifest: dict, n: int, release: bool = False) -> dict:
    """The writes against a real Milvus standalone server started for this measurement (stopped after)."""
    from indexer.store.milvus import MilvusStore
    from indexer.tools import milvus_server

    server = milvus_server.start(folder / "server", log=folder / "server.log")
    try:
        store = MilvusStore(server.uri, f"inc{n}", lock_dir=folder)

        def fresh() -> MilvusStore:
            return MilvusStore(server.uri, f"inc{n}", lock_dir=folder)

        out = measure_writes(store, folder / "server" / "data", parts, manifest, SERVER_SETTLE_S, fresh, release)
        out["server"] = store.caps.version
        return out
    finally:
        server.stop(grace=5)  # measured already; its data is thrown away


def search_p50(variants: list[tuple[Settings, int | None]], queries: list[str], name: str, dim: int) -> list[dict]:
    """p50 ms per mode for each (index settings, segment search threads or None) variant, the variants timed in
    turn on every query (a shared machine's load hits all of them alike). Variants of one index share one engine
    (one BM25 in memory: at 1M chunks a second copy is gigabytes), its threads set before each query."""
    from indexer.retrieval import SearchEngine

    engines: dict[Path, SearchEngine] = {}
    for s, _ in variants:
        engines.setdefault(s.index_dir, SearchEngine.open(s, embedder=RandomQueries(name, dim)))
    out: list[dict] = [{} for _ in variants]
    for mode in ("dense", "lexical", "hybrid"):
        ms: list[list[float]] = [[] for _ in variants]
        for q in [queries[0], *queries]:
            for i, (s, threads) in enumerate(variants):
                engine = engines[s.index_dir]
                if threads is not None:
                    engine.version.search_threads = threads
                t0 = time.perf_counter()
                engine.search(q, k=10, mode=mode)
                ms[i].append((time.perf_counter() - t0) * 1000)
        for i in range(len(variants)):
            out[i][mode] = round(float(np.percentile(ms[i][1:], 50)), 2)  # the first query warms up
    return out


def live_segments(index_dir: Path) -> int:
    return len(vector_indexes(index_dir))


def vector_indexes(index_dir: Path) -> list[str]:
    """The vector index type (flat, hnsw) of each segment with live rows."""
    version = FaissStore(index_dir).open_current()
    try:
        return [seg.meta["vector_index"]["type"] for seg, rows in zip(version.segments, version.live_rows) if len(rows)]
    finally:
        version.close()


def write_ten(ten: Path, content: IndexContent, manifest: dict, params: VectorIndexParams | None = None) -> None:
    """The rows of `content` as 10 segments of one manifest (no merging), each beside the others."""
    store = FaissStore(ten, vector_params=params, merge_on_write=False)
    docs = [d.doc_id for d in content.documents]
    parts = [
        content.rows_where(lambda d, w=frozenset(docs[j] for j in part.tolist()): d in w)
        for part in np.array_split(np.arange(len(docs)), 10)
    ]
    with store.lock():
        store.write_segments(parts, manifest)


def reusable(index_dir: Path, embeddings: np.ndarray, segments: int) -> bool:
    """An index a kept work folder holds with these rows (same count, and the same vectors at the first, middle
    and last row: a corpus synthesised from another source index is not reused) in these many segments
    (--keep-work)."""
    try:
        version = FaissStore(index_dir).open_current()
    except Exception:  # nothing there, or half-written: build it
        return False
    try:
        rows = len(embeddings)
        if version.n_chunks != rows or sum(1 for r in version.live_rows if len(r)) != segments:
            return False
        return all(np.allclose(version.vector(r), embeddings[r], atol=1e-3) for r in {0, rows // 2, rows - 1})
    finally:
        version.close()


def near_queries(content: IndexContent, m: int = 60, seed: int = 1) -> np.ndarray:
    """In-distribution query vectors: the mean of two passage vectors plus noise, normalised."""
    rng = np.random.default_rng(seed)
    emb = content.embeddings
    q = emb[rng.integers(0, len(emb), m)] + emb[rng.integers(0, len(emb), m)]
    q = q + rng.normal(0.0, 0.02, size=q.shape).astype(np.float32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def dense_recall(index_dir: Path, queries: np.ndarray, exact: np.ndarray, depth: int | None = None) -> float:
    """Mean share of the exact top-10 rows in the index's dense top-10, asked `depth` deep (default: as deep as
    the engine asks, `facet_depth`: its ranking and match count share one search)."""
    depth = depth or Settings().facet_depth
    version = FaissStore(index_dir).open_current()
    try:
        k = exact.shape[1]
        got = [version.dense(q, depth)[0][:k] for q in queries]
    finally:
        version.close()
    return round(float(np.mean([len(set(g.tolist()) & set(e.tolist())) / k for g, e in zip(got, exact)])), 4)


def measure_segments(one: Path, ten: Path, manifest: dict, queries: list[str], near: tuple) -> dict:
    """Search p50 on one segment and on the same rows in 10 segments (searched one after the other, and
    `faiss_search_threads` at once); dense recall@10 of both."""
    threads = Settings().faiss_search_threads
    variants = [(Settings.from_env({}, index_dir=one), None), (Settings.from_env({}, index_dir=ten), 1)]
    variants.append((variants[1][0], threads))
    p_one, p_serial, p_ten = search_p50(variants, queries, manifest["model"], int(manifest["dim"]))
    vectors, exact = near
    return {
        "segments": [live_segments(one), live_segments(ten)],
        "vector_indexes": [vector_indexes(one), vector_indexes(ten)],
        "one_segment_p50_ms": p_one,
        "ten_segments_p50_ms": p_ten,
        "search_threads": threads,
        "ten_segments_one_thread_p50_ms": p_serial,
        "dense_recall_at_10": [dense_recall(one, vectors, exact), dense_recall(ten, vectors, exact)],
    }


def prepare_segments(work: Path, n: int, base: IndexContent, manifest: dict, opts: dict) -> tuple:
    """(one-segment index: the write measurement's, or written here; the same rows in 10 segments; recall
    queries and their exact top-10)."""
    from indexer.tools.bench.measure import exact_top

    one = work / f"faiss-{n}" / "index"
    if live_segments(one) != 1:  # a merge left more than one segment: write the one-segment index
        one = work / f"segments-{n}" / "one"
        if not (opts["keep"] and reusable(one, base.embeddings, 1)):
            FaissStore(one, vector_params=opts["params"]).write(base, manifest)
    vectors = near_queries(base)
    near = (vectors, exact_top(base.embeddings, vectors, 10))
    ten = work / f"segments-{n}" / "ten"
    if not (opts["keep"] and reusable(ten, base.embeddings, 10)):
        shutil.rmtree(ten, ignore_errors=True)
        write_ten(ten, base, manifest, opts["params"])
    log(f"{n} chunks: ten segments written")
    return one, ten, near


def bench_size(
    real: IndexContent, manifest: dict, n: int, backends: Sequence[str], work: Path, k: int = MOVED,
    params: VectorIndexParams | None = None, keep: bool = False,
) -> dict:
    from indexer.tools.bench.synth import SyntheticCorpus

    content = SyntheticCorpus(real, seed=0).content(n)
    log(f"{n} chunks synthesised")
    queries = [" ".join(t[:6]) or "发展" for t in content.tokens[:: max(1, len(content.tokens) // 120)]][:120]
    out: dict = {"chunks": n, "documents": len(content.documents)}
    parts = list(split_last(content, k))  # [the rest, the moved documents, their ids]: all any backend needs
    del content
    for i, backend in enumerate(backends):
        folder = work / f"{backend}-{n}"
        if backend == "faiss" and keep and reusable(folder / "index", parts[0].embeddings, 1):
            out["faiss"] = {"reused": str(folder / "index")}  # --keep-work: built by an earlier run
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        key = backend.replace("-", "_")
        release = "faiss" not in backends and i == len(backends) - 1  # nothing reads the rest after this write
        if backend == "faiss":
            store = FaissStore(folder / "index", vector_params=params, merge_on_write=True)
            out[key] = measure_writes(store, folder, parts, manifest)
        elif backend == "milvus-server":
            out[key] = measure_server(folder, parts, manifest, n, release)
        else:
            from indexer.store.milvus import MilvusStore

            def fresh(folder: Path = folder) -> MilvusStore:
                return MilvusStore(str(folder / "milvus.db"), f"inc{n}", lock_dir=folder)

            out[key] = measure_writes(fresh(), folder, parts, manifest, fresh=fresh, release=release)
        log(f"{n} chunks, {backend}: {out[key]}")
        if backend == "milvus-server":  # its data folder is of no further use (the server has stopped)
            shutil.rmtree(folder, ignore_errors=True)
    if "faiss" in backends:  # segments are the FAISS backend's
        base = parts[0]
        del parts
        one, ten, near = prepare_segments(work, n, base, manifest, {"params": params, "keep": keep})
        del base
        out["segments"] = measure_segments(one, ten, manifest, queries, near)
        log(f"{n} chunks, search: {out['segments']}")
        if not keep:
            shutil.rmtree(work / f"segments-{n}", ignore_errors=True)
    return out


def log(msg: str) -> None:
    print(f"[incremental {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(
    index_dir: Path, sizes: Sequence[int], backends: Sequence[str], work: Path, k: int = MOVED,
    params: VectorIndexParams | None = None, keep: bool = False,
) -> dict:
    real_version = open_current(index_dir)
    real = real_version.content()
    manifest = carried_manifest(real_version.manifest)
    results = {"source_index": str(index_dir), "moved_documents": k, "sizes": []}
    for n in sizes:
        results["sizes"].append(bench_size(real, manifest, n, backends, work, k, params, keep))
    results["vector_index"] = dataclasses.asdict(params or VectorIndexParams())
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.bench.incremental", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=DATA_DIR / "index", help="the real index the chunks come from")
    p.add_argument("--sizes", "--chunks", type=int, nargs="+", default=[5000, 100_000])
    p.add_argument("--backends", nargs="+", default=["faiss", "milvus-lite"], choices=BACKENDS)
    p.add_argument("--work", type=Path, default=DATA_DIR / "bench" / "incremental-work")
    p.add_argument("--out", type=Path, default=DATA_DIR / "bench" / "incremental.json")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder; reuse indexes an earlier run left")
    args = p.parse_args(argv)
    # SIGTERM unwinds like Ctrl+C, so a Milvus server this run started is stopped (it runs in its own session)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    params = VectorIndexParams.from_settings(Settings.from_env())  # POLICY_SEARCH_FAISS_* reach the store
    results = run(args.index, args.sizes, args.backends, args.work, params=params, keep=args.keep_work)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
