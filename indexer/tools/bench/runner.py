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
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from indexer.config import Settings
from indexer.tools.bench.indexing import bench_indexing, embedder_factory, quality, real_index
from indexer.tools.bench.measure import cycle, load_avg, log, machine_info, percentiles, read_queries, time_queries
from indexer.tools.bench.options import BenchConfig
from indexer.tools.bench.peers import bench_peer
from indexer.tools.bench.sizes import bench_size
from indexer.tools.bench.tables import format_tables


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
    from indexer.tools.eval.queries import POLICY_QUERIES

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
    from indexer.store import carried_manifest, open_current

    real_version = open_current(real_dir)
    content = real_version.content()
    manifest = carried_manifest(real_version.manifest)
    real_version.close()
    return content, manifest


def _bench_peers(cfg: BenchConfig, engine, embedder, real_dir: Path, results: dict) -> None:
    """Peers on the real corpus (quality and speed), then at the sizes they can take."""
    from indexer.retrieval import SearchEngine
    from indexer.store import write_version
    from indexer.tools.bench.synth import SyntheticCorpus
    from indexer.tools.eval.queries import POLICY_QUERIES

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
    from indexer.tools.eval.queries import CMRC_QUERIES, POLICY_QUERIES

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
