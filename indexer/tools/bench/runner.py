"""Speed, memory and size benchmark, printed as tables and written as JSON.

Usage::

    python -m indexer.tools.bench                       # full run (long: unattended, bounded)
    python -m indexer.tools.bench --quick               # a few minutes: 120-chunk indexing, 1k and 10k chunks
    python -m indexer.tools.bench --sizes 1000,100000 --out data/bench/results.json

What it measures, all in one run on this machine (the load average is recorded beside the figures):

* Indexing on the real corpus (seeds/ + data/corpus/; --quick: the first documents up to ~200
  chunks): the whole pipeline (load, chunk, embed, tokenise, write a version) in chunks/s against
  the bare `SentenceTransformer.encode` of the same chunk texts with the passage prompt, per dtype
  (fp32, bf16); their ratio is the pipeline's overhead. txtai indexing the
  same texts with its own vectorizer (same model folder) is timed beside it.
* Quality on the real corpus: MRR@10 and R@10 of the policy query set for each mode, for each
  dtype's index where the whole corpus was indexed, and for the peers (hybrid).
* At each size (1k, 10k, 100k, 1M chunks; --quick: 1k, 10k): the real chunks, then synthetic chunks
  from real sentences with mixed real vectors (indexer/tools/bench/synth.py says exactly how); index build time,
  size on disk, vector index type; in-process latency p50/p95/p99 per mode over the policy queries
  (query embedding included: the query cache is emptied before each search), the cached repeat,
  a filtered search, the same without best sentences chosen by embedding, and out-of-domain
  questions (CMRC) separately; dense recall@10 against exact search (and an efSearch sweep where the
  index is HNSW); the server (`python -m search_app serve`, query cache off) started as a process:
  time to the first successful /api/health and to the first answered query, its RSS, and latency
  and throughput over loopback with concurrent keep-alive clients and with one client.
* Peers on the same chunks, vectors and model (indexer/tools/bench/peers.py): FAISS flat + rank_bm25 and
  txtai's hybrid index, with speed and quality side by side.

No figure is asserted anywhere; tests/unit/test_bench.py runs these functions at toy size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, PROJECT_ROOT, Settings
from indexer.tools.bench.tables import format_tables

BENCH_DIR = DATA_DIR / "bench"
MODES = ("dense", "lexical", "hybrid")
FULL_SIZES = (1_000, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)


@dataclass
class BenchConfig:
    quick: bool = False
    sizes: tuple[int, ...] = FULL_SIZES
    out: Path = BENCH_DIR / "results.json"
    work: Path = BENCH_DIR / "work"
    sources: list[Path] | None = None  # default: the policy eval corpus (seeds + data/corpus)
    quality_queries: Path | None = None  # default: data/eval/policy_queries.jsonl
    query_files: list[Path] | None = None  # real queries for latency (default: the policy set)
    ood_query_files: list[Path] | None = None  # out-of-domain questions (default: CMRC, about Wikipedia)
    dtypes: tuple[str, ...] = ("fp32", "bf16")
    index_chunks: int | None = None  # indexing subset (None: the whole corpus)
    queries_per_mode: int = 282  # timed searches per mode and size, cycling through the query set (3 x 94)
    ood_queries: int = 188  # out-of-domain questions per size
    http: str = "process"  # process (real start-up) | thread (in-process server, tests) | off
    http_clients: int = 4
    http_requests: int = 75  # per client and mode
    peers: tuple[str, ...] = ("naive", "txtai", "txtai+jieba")
    peer_max_size: int = 100_000
    peer_queries: int = 188
    txtai_own_indexing: bool = True
    keep_indexes: bool = False
    hnsw_ef_sweep: tuple[int, ...] = (256, 512, 1024, 2048)
    real_index: Path | None = None  # an existing index of the sources to reuse (quick mode looks for one)
    settings: Settings = field(default_factory=Settings)  # main() passes Settings.from_env()

    @classmethod
    def quick_defaults(cls, **kw) -> BenchConfig:
        base = dict(
            quick=True,
            sizes=QUICK_SIZES,
            out=BENCH_DIR / "results-quick.json",  # a quick run never overwrites the full figures
            dtypes=("fp32", "bf16"),
            index_chunks=120,
            queries_per_mode=60,
            ood_queries=20,
            http_requests=10,
            peer_max_size=10_000,
            peer_queries=60,
            hnsw_ef_sweep=(512, 1024),
        )
        base.update(kw)
        return cls(**base)


# ---------------------------------------------------------------- small helpers


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


class TimedEmbedder:
    """Delegates to an embedder, adding up the seconds spent in encode_passages."""

    def __init__(self, inner):
        self.inner = inner
        self.passage_seconds = 0.0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_passages(self, texts, show_progress: bool = False):
        t0 = time.perf_counter()
        try:
            return self.inner.encode_passages(texts, show_progress=show_progress)
        finally:
            self.passage_seconds += time.perf_counter() - t0


def embedder_factory(settings: Settings) -> Callable[[str], object]:
    """dtype -> the embedder these settings load at that precision."""
    from indexer.embedding import load_embedder

    return lambda dtype: load_embedder(replace(settings, dtype=dtype))


# ---------------------------------------------------------------- corpus and indexing


def default_sources() -> list[Path]:
    from indexer.tools.eval.evaluate import policy_sources

    return policy_sources()


def load_chunks(paths: Sequence[Path], settings: Settings):
    """Documents and their chunks as the pipeline makes them."""
    from indexer.pipeline import chunk_documents, load_documents

    docs, _ = load_documents(list(paths), settings)
    return docs, chunk_documents(docs, settings)


def pick_subset(paths: Sequence[Path], settings: Settings, target: int | None) -> tuple[list[Path], list]:
    """The first source files whose chunks reach `target` (all of them for None), and those chunks."""
    docs, chunks = load_chunks(paths, settings)
    if target is None:
        return list(paths), chunks
    by_doc: dict[str, list] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    chosen, picked = [], []
    for d in docs:
        if len(picked) >= target:
            break
        chosen.append(Path(d.source_path))
        picked.extend(by_doc.get(d.doc_id, []))
    return chosen, picked


def bare_encode(embedder, texts: list[str]) -> tuple[float, float]:
    """Seconds for SentenceTransformer.encode of `texts` (passage prompt, same batch size), and mean threads.

    Run the way the pipeline's embedder runs it: in the same slices, each on the thread count the
    same load-aware rule picks then, so that a different thread count does not pose as pipeline
    overhead (or gain) on a machine shared with other work.
    """
    from indexer import embedding, machine

    if not isinstance(embedder, embedding.SentenceEmbedder):  # no bare model under it: time the Embedder itself
        t0 = time.perf_counter()
        embedder.encode_passages(texts)
        return time.perf_counter() - t0, 1.0
    model = embedder.model
    step = max(embedding.BULK_SLICE, embedder.batch_size)
    cpu = embedder.device == "cpu"
    threads = []
    t0 = time.perf_counter()
    for start in range(0, len(texts), step):
        if cpu:
            threads.append(machine.bulk_threads())
            machine.use_threads(threads[-1])
        model.encode(texts[start : start + step], prompt=embedder.passage_prompt or None,
                     batch_size=embedder.batch_size, convert_to_numpy=True, show_progress_bar=False)
    return time.perf_counter() - t0, float(np.mean(threads)) if threads else 0.0


def bench_indexing(cfg: BenchConfig, factory: Callable[[str], object]) -> dict:
    from indexer.pipeline import build_index

    settings = cfg.settings
    sources = cfg.sources or default_sources()
    paths, chunks = pick_subset(sources, settings, cfg.index_chunks)
    texts = [c.embedding_text() for c in chunks]
    whole = cfg.index_chunks is None
    log(f"indexing: {len(chunks)} chunks from {len(paths)} files ({'whole corpus' if whole else 'subset'})")
    rows = []
    for dtype in cfg.dtypes:
        t0 = time.perf_counter()
        try:
            embedder = factory(dtype)
        except Exception as exc:  # noqa: BLE001 - reported, the rest goes on
            rows.append({"dtype": dtype, "error": f"{type(exc).__name__}: {exc}"})
            continue
        load_s = time.perf_counter() - t0
        load_before = load_avg()
        bare_1, threads_1 = bare_encode(embedder, texts)  # bare before and after the pipeline: load drift
        timed = TimedEmbedder(embedder)  # (other engineers' jobs come and go) falls on both sides alike
        index_dir = cfg.work / f"index-{dtype}"
        shutil.rmtree(index_dir, ignore_errors=True)
        report = build_index(paths, replace(settings, index_dir=index_dir, dtype=dtype), embedder=timed)
        bare_2, threads_2 = bare_encode(embedder, texts)
        bare_s, threads = (bare_1 + bare_2) / 2, (threads_1 + threads_2) / 2
        n = report.chunks
        row = {
            "dtype": getattr(embedder, "dtype", dtype),
            "chunks": n,
            "whole_corpus": whole,
            "model_load_s": load_s,
            "bare": {"seconds": bare_s, "chunks_per_s": len(texts) / bare_s if bare_s else 0.0,
                     "runs_s": [bare_1, bare_2], "threads": threads},
            "pipeline": {
                "seconds": report.seconds,
                "chunks_per_s": n / report.seconds if report.seconds else 0.0,
                "embed_seconds": timed.passage_seconds,
                "other_seconds": report.seconds - timed.passage_seconds,
            },
            "index_dir": str(index_dir),
            "load": [load_before, load_avg()],
        }
        row["ratio"] = row["pipeline"]["chunks_per_s"] / row["bare"]["chunks_per_s"] if bare_s else None
        rows.append(row)
        log(f"indexing {dtype}: bare {row['bare']['chunks_per_s']:.1f}/s, pipeline "
            f"{row['pipeline']['chunks_per_s']:.1f}/s, ratio {row['ratio']:.3f}")
    peers = []
    if cfg.txtai_own_indexing and "txtai" in cfg.peers:
        try:
            from indexer.tools.bench.peers import txtai_own_index_throughput

            embedder = factory("bf16")
            model_path = settings.model
            peers.append(txtai_own_index_throughput(texts, model_path, getattr(embedder, "dtype", "bf16")))
            log(f"indexing txtai: {peers[-1]['chunks_per_s']:.1f}/s")
        except Exception as exc:  # noqa: BLE001
            peers.append({"engine": "txtai (own vectorizer)", "error": f"{type(exc).__name__}: {exc}"})
            log(f"txtai indexing failed: {exc}")
    return {"chunks": len(chunks), "files": len(paths), "whole_corpus": whole, "runs": rows, "peers": peers}


def matching_index(index_dir: Path, embedder_name: str, sources: Sequence[Path], settings: Settings) -> bool:
    """True when `index_dir` holds a version of exactly these sources, chunked and embedded as configured."""
    from indexer.chunking import CHUNKER_VERSION
    from indexer.store import current_version_name, open_current

    if current_version_name(index_dir) is None:
        return False
    try:
        version = open_current(index_dir)
    except Exception:  # noqa: BLE001 - unreadable: not a match
        return False
    try:
        m = version.manifest
        if m.get("model") != embedder_name or m.get("chunker") != CHUNKER_VERSION:
            return False
        want = {"target_chars": settings.chunk_target_chars, "max_chars": settings.chunk_max_chars,
                "min_chars": settings.chunk_min_chars}
        if m.get("chunking") != want:
            return False
        docs, _ = load_chunks(sources, settings)
        return {d: info[0] for d, info in version.known_documents().items()} == {
            d.doc_id: d.content_hash for d in docs
        }
    finally:
        version.close()


def real_index(cfg: BenchConfig, embedder, indexing: dict | None) -> Path:
    """An index of the whole real corpus: from this run's indexing, a matching existing one, or built now."""
    from indexer.pipeline import build_index

    settings = cfg.settings
    sources = cfg.sources or default_sources()
    if indexing and indexing.get("whole_corpus"):
        wanted = getattr(embedder, "dtype", None)
        runs = [r for r in indexing["runs"] if "error" not in r]
        for r in sorted(runs, key=lambda r: r["dtype"] != wanted):
            return Path(r["index_dir"])
    candidates = [cfg.real_index] if cfg.real_index else []
    candidates += [cfg.work / "real", DATA_DIR / "index-eval" / "policy"]
    for c in candidates:
        if c is not None and matching_index(c, embedder.name, sources, settings):
            log(f"real corpus: reusing the index in {c}")
            return c
    target = cfg.work / "real"
    log(f"real corpus: no matching index found; building {target} (takes minutes on a small CPU)")
    shutil.rmtree(target, ignore_errors=True)
    build_index(list(sources), replace(settings, index_dir=target), embedder=embedder)
    return target


# ---------------------------------------------------------------- quality


def quality(engine, queries_file: Path, modes: Sequence[str] = MODES) -> dict:
    from indexer.tools.eval.evaluate import evaluate, load_queries, summarize

    rows = summarize(evaluate(engine, load_queries(queries_file), modes))
    keep = ("n", "R@1", "R@10", "MRR@10", "nDCG@10")
    return {r["mode"]: {k: r[k] for k in keep} for r in rows if r["kind"] == "all"}


# ---------------------------------------------------------------- one size


def build_size(real_dir: Path, n: int, target: Path, params=None, seed: int = 0) -> dict:
    """Write an index of n chunks (real, then synthetic) from the real index in `real_dir` into `target`.

    `params` (a store.VectorIndexParams) chooses the FAISS index; None: the defaults.
    """
    from indexer.store import open_current, write_version
    from indexer.tools.bench.synth import SyntheticCorpus

    shutil.rmtree(target, ignore_errors=True)
    real = open_current(real_dir)
    content = real.content()
    manifest = {k: real.manifest[k] for k in ("model", "dim", "chunker", "chunking")}
    real.close()
    synth = SyntheticCorpus(content, seed=seed)
    t0 = time.perf_counter()
    sized = synth.content(n)
    t1 = time.perf_counter()
    write_version(target, sized, manifest, keep_versions=1, vector_params=params)
    t2 = time.perf_counter()
    v = open_current(target)
    info = {
        "chunks": n,
        "real_chunks": min(n, synth.n_real),
        "synthetic_chunks": max(0, n - synth.n_real),
        "documents": len(sized.documents),
        "synthesis_s": t1 - t0,
        "write_s": t2 - t1,
        "vector_index": v.manifest.get("vector_index", {"type": "flat"}),
        "disk": dir_bytes(v.path),
        "build_peak_rss_mb": rss_mb().get("peak_mb"),
    }
    v.close()
    return info


def build_size_in_child(real_dir: Path, n: int, target: Path, settings: Settings) -> dict:
    """build_size in a child process, so the memory that building a large index takes is given back."""
    from indexer.store import VectorIndexParams

    out = target.parent / f"{target.name}.build.json"
    params = json.dumps(asdict(VectorIndexParams.from_settings(settings)))
    code = (
        "import json, sys; from pathlib import Path; from indexer.tools.bench.runner import build_size; "
        "from indexer.store import VectorIndexParams; a = sys.argv; params = VectorIndexParams(**json.loads(a[5])); "
        "Path(a[4]).write_text(json.dumps(build_size(Path(a[1]), int(a[2]), Path(a[3]), params)))"
    )
    subprocess.run([sys.executable, "-c", code, str(real_dir), str(n), str(target), str(out), params],
                   cwd=PROJECT_ROOT, check=True)
    info = json.loads(out.read_text())
    out.unlink()
    return info


def index_vectors(version) -> np.ndarray:
    """The float32 vectors the FAISS index searches, as a view (no copy): flat storage of flat or HNSW."""
    import faiss

    index = version.faiss
    flat = faiss.downcast_index(index.storage if isinstance(index, faiss.IndexHNSW) else index)
    return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)


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


def filter_for(version) -> tuple[dict, np.ndarray | None]:
    """A year filter keeping roughly half the rows (documents with a year only); {} when years are unknown."""
    years = version.doc_year[version.row_doc] if len(version.row_doc) else np.zeros(0)
    known = years[years > 0]
    if known.size == 0:
        return {}, None
    year = int(np.median(known))
    return {"year_from": year}, version.allowed_rows(year_from=year)


def bench_size(cfg: BenchConfig, n: int, real_dir: Path, embedder, queries: list[str], ood: list[str]) -> dict:
    from indexer.retrieval import SearchEngine

    target = cfg.work / f"size-{n}"
    log(f"size {n}: building")
    info = build_size_in_child(real_dir, n, target, cfg.settings)
    log(f"size {n}: built ({info['vector_index']['type']}, {info['disk']['total'] / 2**20:.0f} MB) in "
        f"{info['synthesis_s'] + info['write_s']:.0f}s")
    settings = replace(cfg.settings, index_dir=target)
    rss0 = rss_mb()
    engine = SearchEngine.open(settings, embedder)
    info["inprocess_rss_delta_mb"] = rss_mb().get("rss_mb", 0) - rss0.get("rss_mb", 0)
    qs = cycle(queries, cfg.queries_per_mode)
    lat, allowed = _inprocess_latency(cfg, engine, qs, ood)
    info["inprocess"] = lat
    log(f"size {n}: hybrid p50 {lat['hybrid']['p50']:.1f} p99 {lat['hybrid']['p99']:.1f} ms")
    info["recall"] = _vector_recall(cfg, engine, qs + (ood or [])[:200], allowed)
    if cfg.http == "process":  # the server process loads its own copy: free this one first
        engine.close()
    # Through HTTP.
    if cfg.http != "off":
        info["http"] = bench_http(cfg, settings, engine, embedder, queries)
        h = info["http"]["modes"].get("hybrid", {})
        log(f"size {n}: http hybrid p50 {h.get('p50', float('nan')):.1f} ms, {h.get('qps', 0):.1f} q/s")
    engine.close()
    del engine
    return info


def _inprocess_latency(cfg: BenchConfig, engine, qs: list[str], ood: list[str]) -> tuple[dict, np.ndarray | None]:
    """Per-mode latency percentiles of in-process searches; also the filter's allowed rows (None: no filter)."""
    from indexer.filters import Filters

    lat: dict = {"load": [load_avg()]}
    # Embedding alone (uncached): the share of dense and hybrid latency the model takes.
    emb = engine.embedder
    t_embed = []
    for q in qs:
        if hasattr(emb, "clear_cache"):
            emb.clear_cache()
        t0 = time.perf_counter()
        emb.encode_queries([q])
        t_embed.append((time.perf_counter() - t0) * 1000)
    lat["embed_only"] = percentiles(t_embed)
    for mode in MODES:
        lat[mode] = percentiles(time_queries(engine, qs, mode))
    lat["hybrid_cached"] = percentiles(time_queries(engine, qs, "hybrid", cached=True))
    fdict, allowed = filter_for(engine.version)
    if fdict:
        f = Filters(year_from=fdict["year_from"])
        lat["hybrid_filtered"] = {**percentiles(time_queries(engine, qs, "hybrid", f)), "filter": fdict,
                                  "allowed_share": float(allowed.mean())}
    if engine.settings.sentence_by_meaning_top:
        # The same searches without choosing best sentences by embedding (retrieval's
        # sentence_by_meaning_top): what that feature costs where no query word occurs in a result.
        keep = engine.settings
        engine.settings = replace(keep, sentence_by_meaning_top=0)
        try:
            lat["hybrid_no_sentence_embedding"] = percentiles(time_queries(engine, qs, "hybrid"))
        finally:
            engine.settings = keep
    if ood:
        lat["hybrid_out_of_domain"] = percentiles(time_queries(engine, cycle(ood, cfg.ood_queries), "hybrid"))
    lat["load"].append(load_avg())
    return lat, allowed


def _vector_recall(cfg: BenchConfig, engine, texts: list[str], allowed: np.ndarray | None) -> dict:
    """Recall of the vector index against exact search, with the query vectors of the same queries."""
    qvecs = np.asarray(engine.embedder.encode_queries(list(dict.fromkeys(texts))), dtype=np.float32)
    version = engine.version
    vectors = index_vectors(version)
    exact = exact_top(vectors, qvecs, 10)
    rec: dict = {"dense": dense_recall(version, exact, qvecs)}
    if allowed is not None:
        rec["dense_filtered"] = dense_recall(version, exact_top(vectors, qvecs, 10, allowed), qvecs, allowed)
    if version.hnsw:
        sweep, keep = [], version.ef_search
        for ef in cfg.hnsw_ef_sweep:
            version.ef_search = ef
            r = dense_recall(version, exact, qvecs)
            sweep.append({"ef_search": ef, "recall_at_10": r["recall_at_10"], "p50_ms": r["search_ms"]["p50"]})
        version.ef_search = keep
        rec["ef_sweep"] = sweep
    return rec


# ---------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def _search_path(q: str, mode: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode, "k": 10})


class _ServerProcess:
    """`python -m search_app serve` as a child process; start-up timed to health and to a first answer."""

    def __init__(self, settings: Settings, embedder, first_query: str, timeout: float = 600.0):
        self.port = _free_port()
        env = dict(os.environ)
        env.update({
            "POLICY_SEARCH_MODEL": str(settings.model),
            "POLICY_SEARCH_DTYPE": getattr(embedder, "dtype", settings.dtype),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "POLICY_SEARCH_QUERY_CACHE_SIZE": "0",  # every request embeds its query: uncached figures
        })
        cmd = [sys.executable, "-m", "search_app", "serve", "--index", str(settings.index_dir), "--host", "127.0.0.1",
               "--port", str(self.port)]
        self.log_path = Path(settings.index_dir).parent / f"server-{self.port}.log"
        self.log = open(self.log_path, "w", encoding="utf-8")  # a pipe nobody reads could block the server
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        self.health_s = self.first_query_s = None
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text(encoding='utf-8', errors='replace')[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                status, _ = _get(conn, "/api/health")
                if status == 200:
                    self.health_s = time.perf_counter() - t0
                    status, _ = _get(conn, _search_path(first_query, "hybrid"))
                    if status != 200:
                        raise RuntimeError(f"first query answered {status}")
                    self.first_query_s = time.perf_counter() - t0
                    conn.close()
                    break
                conn.close()
            except (ConnectionError, OSError):
                pass
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError("server did not answer in time")

    def rss(self) -> dict:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.log_path.unlink(missing_ok=True)


class _ServerThread:
    """The same app under waitress in this process (tests; no start-up figure)."""

    def __init__(self, settings: Settings, engine):
        from search_app import create_app
        from search_app.serving import make_server

        self.server = make_server(create_app(settings, engine=engine), "127.0.0.1", 0, settings.threads)
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.health_s = self.first_query_s = None

    def rss(self) -> dict:
        return rss_mb()

    def stop(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


def http_load(port: int, queries: Sequence[str], mode: str, clients: int, per_client: int) -> dict:
    """`clients` threads, each on one keep-alive connection, sending `per_client` queries (cycling the list)."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = [queries[(i * per_client + j) % len(queries)] for j in range(per_client)]
        for q in mine:
            t0 = time.perf_counter()
            try:
                status, _ = _get(conn, _search_path(q, mode))
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(str(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                (lat.append(ms) if status == 200 else errors.append(f"HTTP {status}"))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {**percentiles(lat), "qps": len(lat) / wall if wall else 0.0, "errors": len(errors),
            "first_errors": errors[:3]}


def bench_http(cfg: BenchConfig, settings: Settings, engine, embedder, queries: list[str]) -> dict:
    try:
        if cfg.http == "process":
            server = _ServerProcess(settings, embedder, first_query=queries[-1])
        else:
            server = _ServerThread(settings, engine)
    except Exception as exc:  # noqa: BLE001 - reported in the results
        return {"error": f"{type(exc).__name__}: {exc}"}
    out = {"mode": cfg.http, "clients": cfg.http_clients, "requests_per_client": cfg.http_requests,
           "startup": {"health_s": server.health_s, "first_query_s": server.first_query_s},
           "rss_after_start": server.rss(), "modes": {}}
    try:
        time.sleep(2.0 if cfg.http == "process" else 0.0)  # let the server's warm-up thread finish
        out["load"] = [load_avg()]
        for mode in MODES:
            out["modes"][mode] = http_load(server.port, queries, mode, cfg.http_clients, cfg.http_requests)
        # One client in sequence: the cost of HTTP + JSON on top of the in-process figure, without queueing.
        n_one = min(len(queries), cfg.queries_per_mode)
        out["modes"]["hybrid_1client"] = http_load(server.port, queries, "hybrid", 1, n_one)
        out["load"].append(load_avg())
        out["rss_after_load"] = server.rss()
    finally:
        server.stop()
    return out


# ---------------------------------------------------------------- peers


def make_peer(name: str, content, embedder):
    from indexer.tools.bench.peers import NaivePeer, TxtaiPeer

    if name == "naive":
        return NaivePeer(content, embedder)
    if name == "txtai":
        return TxtaiPeer(content, embedder)
    if name == "txtai+jieba":
        return TxtaiPeer(content, embedder, jieba=True)
    raise ValueError(f"unknown peer {name!r}")


def bench_peer(name: str, content, embedder, queries: Sequence[str], judge_engine=None,
               quality_queries: Path | None = None) -> dict:
    from indexer.tools.bench.peers import PeerEngine

    try:
        rss0 = rss_mb().get("rss_mb", 0)
        peer = make_peer(name, content, embedder)
    except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported plainly
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    try:
        out = {"name": peer.name, "chunks": len(content.chunks), "build_s": peer.build_seconds,
               "rss_delta_mb": rss_mb().get("rss_mb", 0) - rss0}
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            peer.search(q, 10)
            lat.append((time.perf_counter() - t0) * 1000)
        out["hybrid"] = percentiles(lat)
        if judge_engine is not None and quality_queries is not None:
            out["quality"] = quality(PeerEngine(peer, content, judge_engine), quality_queries, ("hybrid",))["hybrid"]
        return out
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        peer.close()


# ---------------------------------------------------------------- goals and tables


def goals(results: dict) -> list[dict]:
    out = []

    def add(goal, target, measured, met, note=""):
        out.append({"goal": goal, "target": target, "measured": measured, "met": met, "note": note})

    runs = {r["dtype"]: r for r in results.get("indexing", {}).get("runs", []) if "error" not in r}
    if "bf16" in runs:
        r = runs["bf16"]
        add("pipeline indexing >= 0.85 x bare bf16 encode", ">= 0.85", round(r["ratio"], 3), r["ratio"] >= 0.85,
            f"{r['chunks']} chunks")
    sizes = {s["chunks"]: s for s in results.get("sizes", []) if "inprocess" in s}
    if 100_000 in sizes:
        h = sizes[100_000]["inprocess"]["hybrid"]
        add("hybrid in-process at 100k: p50", "<= 30 ms", round(h["p50"], 1), h["p50"] <= 30)
        add("hybrid in-process at 100k: p99", "<= 100 ms", round(h["p99"], 1), h["p99"] <= 100)
    if 1_000_000 in sizes:
        s = sizes[1_000_000]
        h, rec = s["inprocess"]["hybrid"], s["recall"]["dense"]["recall_at_10"]
        add("hybrid in-process at 1M: p50", "<= 80 ms", round(h["p50"], 1), h["p50"] <= 80)
        add("dense recall@10 vs exact at 1M", ">= 0.95", round(rec, 4), rec >= 0.95, s["vector_index"]["type"])
    ours = results.get("quality", {}).get("ours", {}).get("hybrid")
    for p in results.get("peers", []):
        if not p.get("name", "").startswith("txtai") or "error" in p or "quality" not in p or not ours:
            continue
        our_lat = results["peers_ours"].get(str(p["chunks"]))
        if not our_lat:
            continue
        faster = our_lat["p50"] < p["hybrid"]["p50"]
        as_good = ours["MRR@10"] >= p["quality"]["MRR@10"] - 1e-9
        add(f"faster than {p['name']} at equal or better quality ({p['chunks']} chunks)",
            "p50 lower, MRR@10 not lower",
            f"p50 {our_lat['p50']:.1f} vs {p['hybrid']['p50']:.1f} ms ({p['hybrid']['p50'] / our_lat['p50']:.1f}x); "
            f"MRR@10 {ours['MRR@10']:.3f} vs {p['quality']['MRR@10']:.3f}", faster and as_good)
    return out


# ---------------------------------------------------------------- the run


NOTES = [
    "Latency queries: the 94 policy queries (data/eval/policy_queries.jsonl), cycled; the query cache is emptied "
    "before every timed in-process search (the server runs with POLICY_SEARCH_QUERY_CACHE_SIZE=0), so every "
    "dense and hybrid figure includes embedding the query, except rows marked cached. hybrid_out_of_domain: CMRC "
    "questions about Wikipedia, which nothing in the index answers.",
    "Indexing: bare = SentenceTransformer.encode of the same chunk texts (passage prompt, batch size, 64-text "
    "slices, load-aware thread count per slice, as the pipeline), run before and after the pipeline and averaged.",
    "Chunks past the real corpus are synthetic: real sentences of two real chunks shuffled together; their "
    "vectors are the two chunks' real embeddings mixed by share of text plus noise (sigma 0.005 per dimension), "
    "renormalised, not embeddings of the synthetic text (indexer/tools/bench/synth.py).",
    "Latency is wall time around SearchEngine.search (in-process) or one HTTP request.",
    "Peers get our passage vectors and encode each query with a plain SentenceTransformer.encode on one thread.",
]


def run(cfg: BenchConfig, factory: Callable[[str], object] | None = None) -> dict:
    """The whole benchmark; `factory(dtype)` gives the embedder (tests pass a fake one)."""
    factory = factory or embedder_factory(cfg.settings)
    cfg.work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    s = cfg.settings
    results: dict = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": cfg.quick, "machine": machine_info(),
                 "load_start": load_avg(), "config": _jsonable(asdict(cfg)), "notes": list(NOTES),
                 "settings": {k: getattr(s, k) for k in (
                     "dtype", "batch_size", "candidate_pool", "fusion", "faiss_hnsw_threshold", "faiss_hnsw_m",
                     "faiss_hnsw_ef_construction", "faiss_hnsw_ef_search")}},
    }
    # 1. Indexing throughput per dtype.
    indexing = bench_indexing(cfg, factory) if cfg.dtypes else None
    if indexing:
        results["indexing"] = indexing
    # 2. The real corpus index and our quality on it; 3. peers; 4. each size.
    embedder = factory("auto")
    real_dir = real_index(cfg, embedder, indexing)
    engine = _bench_quality(cfg, factory, embedder, real_dir, indexing, results)
    _bench_peers(cfg, engine, embedder, real_dir, results)
    engine.close()
    _bench_sizes(cfg, real_dir, embedder, results)
    results["goals"] = goals(results)
    results["meta"].update(finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), load_end=load_avg(),
                           seconds=time.perf_counter() - t_start)
    _write(cfg.out, results)
    return results


def _bench_quality(cfg: BenchConfig, factory, embedder, real_dir: Path, indexing: dict | None, results: dict):
    """Our quality on the real corpus (per indexing dtype too); returns the engine over `real_dir`."""
    from indexer.retrieval import SearchEngine
    from indexer.tools.eval.evaluate import POLICY_QUERIES

    quality_queries = cfg.quality_queries or POLICY_QUERIES
    engine = SearchEngine.open(replace(cfg.settings, index_dir=real_dir), embedder)
    qres: dict = {"index": str(real_dir), "ours": quality(engine, quality_queries)}
    qres["n"] = next(iter(qres["ours"].values()))["n"]
    if indexing and indexing["whole_corpus"]:
        qres["by_dtype"] = {}
        for r in indexing["runs"]:
            if "error" not in r and r["dtype"] != getattr(embedder, "dtype", None):
                eng = SearchEngine.open(replace(cfg.settings, index_dir=Path(r["index_dir"])), factory(r["dtype"]))
                qres["by_dtype"][r["dtype"]] = quality(eng, quality_queries)
                eng.close()
    results["quality"] = qres
    log("quality: " + ", ".join(f"{m} MRR@10 {v['MRR@10']:.3f}" for m, v in qres["ours"].items()))
    return engine


def _real_content(real_dir: Path):
    """The real index's content and the manifest fields a copy of it needs."""
    from indexer.store import open_current

    real_version = open_current(real_dir)
    content = real_version.content()
    manifest = {k: real_version.manifest[k] for k in ("model", "dim", "chunker", "chunking")}
    real_version.close()
    return content, manifest


def _bench_peers(cfg: BenchConfig, engine, embedder, real_dir: Path, results: dict) -> None:
    """Peers on the real corpus (quality and speed), then at the sizes they can take."""
    from indexer.retrieval import SearchEngine
    from indexer.store import write_version
    from indexer.tools.bench.synth import SyntheticCorpus
    from indexer.tools.eval.evaluate import POLICY_QUERIES

    content, manifest = _real_content(real_dir)
    synth = SyntheticCorpus(content)
    results["peers"], results["peers_ours"] = [], {}
    peer_q = cycle(read_queries(cfg.query_files or [POLICY_QUERIES]), cfg.peer_queries)
    real_n = len(content.chunks)
    for n in [real_n] + [n for n in cfg.sizes if n <= cfg.peer_max_size and n != real_n]:
        sized = content if n == real_n else synth.content(n)
        our_engine = engine
        if n != real_n:
            shutil.rmtree(cfg.work / "peer-ours", ignore_errors=True)
            write_version(cfg.work / "peer-ours", sized, manifest, keep_versions=1)
            our_engine = SearchEngine.open(replace(cfg.settings, index_dir=cfg.work / "peer-ours"), embedder)
        results["peers_ours"][str(n)] = percentiles(time_queries(our_engine, peer_q, "hybrid"))
        for name in cfg.peers:
            log(f"peer {name} at {n} chunks")
            results["peers"].append(bench_peer(name, sized, embedder, peer_q, engine if n == real_n else None,
                                               cfg.quality_queries or POLICY_QUERIES))
            p = results["peers"][-1]
            log(f"peer {name} at {n}: " + (p["error"] if "error" in p else f"p50 {p['hybrid']['p50']:.1f} ms"))
        if our_engine is not engine:
            our_engine.close()
    shutil.rmtree(cfg.work / "peer-ours", ignore_errors=True)


def _bench_sizes(cfg: BenchConfig, real_dir: Path, embedder, results: dict) -> None:
    """Each size: build, in-process latency, recall, HTTP, memory, disk; partial results written as they come."""
    from indexer.tools.eval.evaluate import CMRC_QUERIES, POLICY_QUERIES

    queries = read_queries(cfg.query_files or [POLICY_QUERIES])
    ood = read_queries(cfg.ood_query_files or [CMRC_QUERIES]) if cfg.ood_query_files != [] else []
    results["sizes"] = []
    for n in cfg.sizes:
        try:
            results["sizes"].append(bench_size(cfg, n, real_dir, embedder, queries, ood))
        except Exception as exc:  # noqa: BLE001 - one size failing (e.g. memory) must not lose the others
            log(f"size {n} failed: {type(exc).__name__}: {exc}")
            results["sizes"].append({"chunks": n, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            if not cfg.keep_indexes:
                shutil.rmtree(cfg.work / f"size-{n}", ignore_errors=True)
        _write(cfg.out, results)  # partial results survive a later failure


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(results), ensure_ascii=False, indent=1, default=float), encoding="utf-8")
    os.replace(tmp, path)


def _parse_args(argv: Sequence[str] | None) -> BenchConfig:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a few minutes: small indexing subset, sizes 1k and 10k")
    p.add_argument("--sizes", help="comma list of chunk counts (default 1000,10000,100000,1000000; quick 1000,10000)")
    p.add_argument("--out", type=Path, help="JSON results (default data/bench/results.json; quick: results-quick.json)")
    p.add_argument("--work", type=Path, help="scratch folder for indexes (default data/bench/work)")
    p.add_argument("--dtypes", help="indexing dtypes, comma list of fp32,bf16 ('' skips indexing)")
    p.add_argument("--index-chunks", type=int, help="index only the first documents up to this many chunks")
    p.add_argument("--queries", type=int, help="distinct queries per mode and size (in-process)")
    p.add_argument("--http", choices=("process", "thread", "off"), help="server as a process (default), thread, off")
    p.add_argument("--http-requests", type=int, help="requests per client and mode")
    p.add_argument("--peers", help="comma list of naive,txtai,txtai+jieba ('' for none)")
    p.add_argument("--peer-max-size", type=int, help="largest size the peers run at")
    p.add_argument("--keep-indexes", action="store_true", help="keep the per-size indexes under --work")
    a = p.parse_args(argv)
    cfg = BenchConfig.quick_defaults() if a.quick else BenchConfig()
    changes: dict = {}
    if a.sizes:
        changes["sizes"] = tuple(int(x.replace("_", "")) for x in a.sizes.split(",") if x.strip())
    for key in ("out", "work", "index_chunks", "http", "http_requests", "peer_max_size"):
        if getattr(a, key) is not None:
            changes[key] = getattr(a, key)
    if a.queries is not None:
        changes["queries_per_mode"] = a.queries
    if a.dtypes is not None:
        changes["dtypes"] = tuple(x.strip() for x in a.dtypes.split(",") if x.strip())
    if a.peers is not None:
        changes["peers"] = tuple(x.strip() for x in a.peers.split(",") if x.strip())
    if a.keep_indexes:
        changes["keep_indexes"] = True
    return replace(cfg, **changes)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = replace(_parse_args(argv), settings=Settings.from_env())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded (our model, txtai's peers)
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    results = run(cfg)
    print(format_tables(results))
    print(f"\nresults written to {cfg.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
