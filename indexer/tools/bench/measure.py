"""Measuring helpers shared by the bench's parts: percentiles, memory, sizes on disk, the machine, timed
queries and exact nearest neighbours (the recall baseline)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.config import PROJECT_ROOT


def percentiles(ms: Sequence[float]) -> dict:
    """p50/p95/p99 (linear interpolation), mean and max of a list of milliseconds."""
    if not len(ms):
        return {"n": 0}
    a = np.asarray(ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": int(a.size), "p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(a.mean()),
            "max": float(a.max())}


def rss_mb(pid: int | str = "self") -> dict:
    """Resident and peak resident memory of a process, from /proc (MB); {} where unavailable."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_mb"] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def dir_bytes(path: Path) -> dict:
    """Bytes on disk under `path`, by file name (a segmented index: the same names summed over segments)."""
    files: dict[str, int] = {}
    for p in sorted(Path(path).rglob("*")):
        if p.is_file():
            files[p.name] = files.get(p.name, 0) + p.stat().st_size
    return {"total": sum(files.values()), "files": files}


def load_avg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {' '.join(map(str, load_avg()))}] {msg}", file=sys.stderr,
          flush=True)


def machine_info() -> dict:
    from indexer.machine import cpu_budget, cpu_has_native_bf16

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    from importlib import metadata

    versions = {}
    for name in ("torch", "faiss-cpu", "sentence-transformers", "transformers", "numpy", "scipy", "txtai", "rank-bm25"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # a missing peer is reported, not fatal
            versions[name] = None
    commit = ""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "cpu_budget": cpu_budget(),
        "native_bf16": cpu_has_native_bf16(),
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "versions": versions,
        "commit": commit,
    }


def read_queries(files: Sequence[Path]) -> list[str]:
    """Distinct query strings from JSONL query sets, in file order."""
    seen: dict[str, None] = {}
    for f in files:
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = str(json.loads(line).get("query", "")).strip()
                if q:
                    seen.setdefault(q, None)
    return list(seen)


def cycle(queries: Sequence[str], n: int) -> list[str]:
    """n queries: evenly spread over the list when n is smaller (every kind of query is represented),
    else going round it as often as needed."""
    if not queries:
        return []
    if n < len(queries):
        return [queries[int(i)] for i in np.linspace(0, len(queries) - 1, n).round()]
    return [queries[i % len(queries)] for i in range(n)]


def time_queries(engine, queries: Sequence[str], mode: str, filters=None, cached: bool = False) -> list[float]:
    """Latency (ms) of engine.search for each query.

    Uncached (default): the query cache is emptied before every search, so each one embeds its query.
    Cached: every query is searched once untimed first, so each timed search finds its vector cached.
    """
    emb = engine.embedder if mode != "lexical" else None
    clear = getattr(emb, "clear_cache", None)
    if cached:
        for q in dict.fromkeys(queries):
            engine.search(q, k=10, mode=mode, filters=filters)
    out = []
    for q in queries:
        if not cached and clear is not None:
            clear()
        t0 = time.perf_counter()
        engine.search(q, k=10, mode=mode, filters=filters)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Exact top-k rows by inner product, in blocks of queries (numpy; memory stays small)."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), 16):
        sims = queries[s : s + 16] @ vectors.T
        if allowed is not None:
            sims[:, ~allowed] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sims, part, axis=1).argsort(axis=1)[:, ::-1]
        out[s : s + 16] = np.take_along_axis(part, order, axis=1)
    return out


def dense_recall(version, exact: np.ndarray, qvecs: np.ndarray, allowed=None, k: int = 10) -> dict:
    """Share of the exact top-k (rows from exact_top) that version.dense returns, and its search time."""
    hits, times = [], []
    for q, e in zip(qvecs, exact):
        t0 = time.perf_counter()
        rows, _ = version.dense(q, k, allowed)
        times.append((time.perf_counter() - t0) * 1000)
        hits.append(len(set(rows.tolist()) & set(e.tolist())) / k)
    return {"recall_at_10": float(np.mean(hits)), "search_ms": percentiles(times)}
