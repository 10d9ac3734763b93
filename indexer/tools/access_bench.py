"""What the access filter costs a query: dense and BM25 on one index version, without and with a reader's scope.

    python -m indexer.tools.access_bench [--chunks 100000] [--docs 2000] [--queries 200]

Synthetic content (random unit vectors, 384 dimensions; tokens drawn from a 5,000-word vocabulary), documents
spread over four collections; the scope reads two of them (about half the rows). Store time only, no model.
Prints one JSON object: p50/p95 ms per mode, unscoped and scoped, and the cost of building the scope mask.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.models import Chunk, Document
from indexer.store import IndexContent, open_current, write_version

COLLECTIONS = ("公开文件", "办公室", "宣传部", "组织部")


def synthetic(n_chunks: int, n_docs: int, dim: int = 384, seed: int = 7) -> IndexContent:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(5000)]
    docs = [
        Document(f"d{i}", f"文档{i}", "正文", meta={"collections": [COLLECTIONS[i % len(COLLECTIONS)]]})
        for i in range(n_docs)
    ]
    owner = rng.integers(0, n_docs, n_chunks)
    chunks = [Chunk(f"d{d}#{r}", f"d{d}", f"文档{d}", [], "正文", 0, 2, ordinal=r) for r, d in enumerate(owner)]
    emb = rng.standard_normal((n_chunks, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    tokens = [list(rng.choice(vocab, 40)) for _ in range(n_chunks)]
    return IndexContent(docs, chunks, emb, tokens)


def _ms(samples: list[float]) -> dict:
    return {"p50": round(float(np.percentile(samples, 50)), 3), "p95": round(float(np.percentile(samples, 95)), 3)}


def _one(version, qvec, words, scope) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    allowed = version.allowed_rows(collections=scope)
    t1 = time.perf_counter()
    version.dense(qvec, 100, allowed)
    t2 = time.perf_counter()
    version.bm25.search(words, 100, allowed)
    t3 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000


def measure(version, n_queries: int, scope: frozenset[str], seed: int = 11) -> dict:
    """Each query runs unscoped and scoped back to back (same load for both), after a warm-up."""
    rng = np.random.default_rng(seed)
    times: dict[str, list[tuple[float, float, float]]] = {"unscoped": [], "scoped": []}
    for i in range(n_queries + 10):
        qvec = version.vector(int(rng.integers(0, version.n_chunks)))
        words = [f"w{int(j)}" for j in rng.integers(0, 5000, 3)]
        pair = {"unscoped": _one(version, qvec, words, None), "scoped": _one(version, qvec, words, scope)}
        for key, t in pair.items():
            if i >= 10:
                times[key].append(t)
    return {
        key: {name: _ms([t[k] for t in ts]) for k, name in enumerate(("mask_ms", "dense_ms", "bm25_ms"))}
        for key, ts in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.access_bench", description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=100_000)
    p.add_argument("--docs", type=int, default=2_000)
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write_version(Path(tmp), synthetic(args.chunks, args.docs), {"model": "synthetic", "dim": 384})
        version = open_current(Path(tmp))
        scope = frozenset(COLLECTIONS[:2])
        out = {
            "chunks": args.chunks,
            "docs": args.docs,
            "scoped_rows": int(np.count_nonzero(version.allowed_rows(collections=scope))),
            **measure(version, args.queries, scope),
        }
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
