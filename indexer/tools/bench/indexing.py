"""Indexing speed on the real corpus (the pipeline against the bare model), the real index it leaves, and
its quality on the policy query set."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, Settings
from indexer.tools.bench.measure import load_avg, log
from indexer.tools.bench.options import MODES, BenchConfig


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


def default_sources() -> list[Path]:
    from indexer.tools.eval.suites import policy_sources

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
    from indexer.tools.eval.evaluate import evaluate
    from indexer.tools.eval.queries import load_queries
    from indexer.tools.eval.report import summarize

    rows = summarize(evaluate(engine, load_queries(queries_file), modes))
    keep = ("n", "R@1", "R@10", "MRR@10", "nDCG@10")
    return {r["mode"]: {k: r[k] for k in keep} for r in rows if r["kind"] == "all"}
