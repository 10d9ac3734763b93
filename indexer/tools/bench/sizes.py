"""One corpus size: build it (real chunks, then synthetic ones), then in-process latency per mode and
dense recall against exact search."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from indexer.config import PROJECT_ROOT, Settings
from indexer.tools.bench.http_bench import bench_http
from indexer.tools.bench.measure import (
    cycle,
    dense_recall,
    dir_bytes,
    exact_top,
    load_avg,
    log,
    percentiles,
    rss_mb,
    time_queries,
)
from indexer.tools.bench.options import MODES, BenchConfig


def build_size(real_dir: Path, n: int, target: Path, params=None, seed: int = 0) -> dict:
    """Write an index of n chunks (real, then synthetic) from the real index in `real_dir` into `target`.

    `params` (a store.VectorIndexParams) chooses the FAISS index; None: the defaults.
    """
    from indexer.store import carried_manifest, open_current, write_version
    from indexer.tools.bench.synth import SyntheticCorpus

    shutil.rmtree(target, ignore_errors=True)
    real = open_current(real_dir)
    content = real.content()
    manifest = carried_manifest(real.manifest)
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
        "import json, sys; from pathlib import Path; from indexer.tools.bench.sizes import build_size; "
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
