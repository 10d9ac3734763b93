"""FAISS vs Milvus on the same data: write time, open time, query latency, memory, top-10 agreement.

    python -m indexer.tools.bench.backends [--index DIR] [--milvus-index FLAT|HNSW|...] [--scale N] [--json OUT]

Takes the live FAISS version (--index; no re-embedding), optionally repeated N times with jittered vectors to see
how each backend grows, writes it into a fresh FAISS folder and a fresh Milvus Lite file, then measures each
backend in its own process: memory is that process's resident set after opening the index (Milvus Lite runs in
the process; against a server the vectors would live in the server instead). The eval queries
(data/eval/policy_queries.jsonl) are embedded once, so latencies are the store's alone (dense: one top-100
search; hybrid: the engine's whole search path less the query embedding), the best of 3 passes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, Settings
from indexer.store import IndexContent

QUERIES = DATA_DIR / "eval" / "policy_queries.jsonl"


class _Precomputed:
    """Stands in for the model: the queries were embedded once by the parent process."""

    def __init__(self, name: str, queries: list[str], vectors: np.ndarray):
        self.name, self.dim = name, vectors.shape[1]
        self._vec = dict(zip(queries, vectors))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec[t] for t in texts])


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _best_ms(run, passes: int = 3) -> float:
    """The fastest of a few passes: the machine is shared, the slower passes measure the neighbours."""
    best = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _scaled(content: IndexContent, times: int) -> IndexContent:
    """The content `times` over, each copy's ids suffixed and vectors jittered (no exact ties between copies)."""
    if times <= 1:
        return content
    rng = np.random.default_rng(0)
    docs, chunks, embs, tokens = [], [], [], []
    for i in range(times):
        sfx = "" if i == 0 else f"~{i}"
        docs += [replace(d, doc_id=d.doc_id + sfx) for d in content.documents]
        chunks += [replace(c, doc_id=c.doc_id + sfx, chunk_id=c.chunk_id + sfx) for c in content.chunks]
        e = content.embeddings + (0 if i == 0 else rng.normal(0, 0.02, content.embeddings.shape))
        embs.append((e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32))
        tokens += content.tokens
    return IndexContent(docs, chunks, np.concatenate(embs), tokens)


def _child(job: dict) -> dict:
    """One measurement, in a fresh process."""
    # The store is what is compared: no sentence embedding for English queries (needs the model).
    settings = Settings.from_env({}, sentence_by_meaning_top=0, **job["settings"])
    if job["op"] == "write":
        from indexer.backend import open_store
        from indexer.store import open_current

        source = open_current(Path(job["source"]))
        content, manifest = _scaled(source.content(), job["scale"]), dict(source.manifest)
        store = open_store(settings)
        t0 = time.perf_counter()
        with store.lock():
            store.write(content, manifest)
        return {"write_s": time.perf_counter() - t0, "chunks": len(content.chunks)}

    from indexer.retrieval import SearchEngine

    queries = job["queries"]
    vectors = np.load(job["vectors"])
    rss_start = _rss_mb()
    if settings.milvus_uri:  # the client libraries (and, for Lite, its engine) apart from the index itself
        from indexer.store.milvus_client import client_for

        client_for(settings.milvus_uri, settings.milvus_token)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    engine = SearchEngine.open(settings, embedder=_Precomputed(job["model_name"], queries, vectors))
    open_s = time.perf_counter() - t0
    rss1 = _rss_mb()
    version = engine.version
    tops = [version.dense(v, 100)[0][:10].tolist() for v in vectors]
    dense_ms = _best_ms(lambda: [version.dense(v, 100) for v in vectors]) / len(vectors)
    hybrid_ms = _best_ms(lambda: [engine.search(q, k=10, mode="hybrid") for q in queries]) / len(queries)
    figures = {
        "open_s": open_s,
        "rss_libs_mb": rss0 - rss_start,
        "rss_open_mb": rss1 - rss0,
        "dense_ms": dense_ms,
        "hybrid_ms": hybrid_ms,
    }
    return {**figures, "tops": tops}


def _run_child(job: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "indexer.tools.bench.backends", "--child", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"measurement {job['op']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.bench.backends", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, help="FAISS index folder to copy (default data/index)")
    p.add_argument("--milvus-index", default="FLAT", help="Milvus vector index type (FLAT, HNSW, IVF_FLAT)")
    p.add_argument("--scale", type=int, default=1, help="repeat the content this many times")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0

    from indexer.embedding import load_embedder

    base = Settings.from_env(index_dir=args.index)
    queries = [json.loads(line)["query"] for line in QUERIES.read_text(encoding="utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory(prefix="backend-bench-") as tmp:
        vectors = Path(tmp) / "queries.npy"
        embedder = load_embedder(base)
        np.save(vectors, embedder.encode_queries(queries))
        stores = {
            "faiss": {"index_dir": f"{tmp}/faiss"},
            f"milvus-lite {args.milvus_index}": {
                "index_dir": f"{tmp}/faiss-unused",
                "milvus_uri": f"{tmp}/milvus.db",
                "milvus_index": args.milvus_index,
            },
        }
        figures = {}
        for name, overrides in stores.items():
            overrides["model"] = base.model
            write = _run_child(
                {"op": "write", "settings": overrides, "source": str(base.index_dir), "scale": args.scale}
            )
            job = {"op": "query", "settings": overrides, "queries": queries, "vectors": str(vectors)}
            query = _run_child({**job, "model_name": embedder.name})
            figures[name] = {**write, **query}
    ref = next(iter(figures.values()))
    print(f"{len(queries)} queries over {ref['chunks']} chunks (store time only; queries embedded beforehand)")
    head = ("write s", 9), ("open s", 9), ("dense ms", 10), ("hybrid ms", 11), ("libs MB", 9), ("index MB", 9)
    print(f"{'store':<22}" + "".join(f"{h:>{w}}" for h, w in head) + f"{'top-10':>8}")
    for name, f in figures.items():
        overlap = np.mean([len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(ref["tops"], f["tops"])])
        f["overlap_top10"] = float(overlap)
        print(
            f"{name:<22}{f['write_s']:>9.2f}{f['open_s']:>9.2f}{f['dense_ms']:>10.2f}{f['hybrid_ms']:>11.2f}"
            f"{f['rss_libs_mb']:>9.0f}{f['rss_open_mb']:>9.0f}{overlap:>8.3f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        slim = {k: {m: v for m, v in f.items() if m != "tops"} for k, f in figures.items()}
        args.json.write_text(json.dumps({"queries": len(queries), "scale": args.scale, **slim}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
