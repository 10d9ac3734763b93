"""Does BM25 inside Milvus (sparse vectors) rank like the FAISS backend's in-process BM25 on the eval sets?

    python -m indexer.tools.bench.lexical_parity [--index data/index-eval/policy] [--out data/bench/lexical_parity.json]

Copies the eval index into a fresh Milvus Lite file twice, without re-embedding: once as one build, once as a
build of all but the last 10 documents followed by an `add` of those 10 (rows of two generations weighted with
different average lengths: the rescoring path). Then every eval query runs in lexical and hybrid mode on FAISS
and on each Milvus copy with the real model: top-10 overlap with FAISS (chunk ids, mean over queries) and MRR@10
with the eval judgements, for each.
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
from indexer.tools.bench.output import report

MODES = ("lexical", "hybrid")
ADDED = 10


class CachedQueries:
    """The real embedder with query vectors computed once (the same query runs on several indexes)."""

    def __init__(self, embedder):
        self._e = embedder
        self._cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name):
        return getattr(self._e, name)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            self._cache.update(zip(todo, self._e.encode_queries(todo)))
        return np.stack([self._cache[t] for t in texts])


def measure(engine, queries, mode: str) -> tuple[list[list[str]], float]:
    """Top-10 chunk ids of every query and MRR@10 under the eval judgements (one search per query)."""
    from indexer.tools.eval.judge import Judge
    from indexer.tools.eval.metrics import reciprocal_rank

    judge = Judge(engine)
    ids, rr = [], []
    for q, resp in zip(queries, engine.search_many([q.query for q in queries], k=10, mode=mode)):
        ids.append([r.chunk_id for r in resp.results])
        rr.append(reciprocal_rank([judge.is_relevant(q, r) for r in resp.results], 10))
    return ids, float(np.mean(rr))


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    return float(np.mean([len(set(x) & set(y)) / max(len(y), 1) if y else float(not x) for x, y in zip(a, b)]))


def copy_to_milvus(index: Path, uri: str, collection: str, split: bool) -> str:
    """The FAISS eval index as one Milvus build, or as a build plus an add of the last documents."""
    from indexer.store import open_current
    from indexer.store.milvus import MilvusStore

    source = open_current(index)
    content = source.content()
    store = MilvusStore(uri, collection, lock_dir=Path(uri).parent)
    with store.lock():
        if not split:
            return store.write(content, dict(source.manifest))
        last = {d.doc_id for d in content.documents[-ADDED:]}
        store.write(content.rows_where(lambda d: d not in last), dict(source.manifest))
        return store.add(content.rows_where(lambda d: d in last), dict(source.manifest))


def run(index: Path, work: Path) -> dict:
    from indexer.retrieval import SearchEngine
    from indexer.tools.eval.queries import load_queries
    from indexer.tools.eval.suites import SUITES

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    faiss_settings = Settings.from_env({}, index_dir=index)
    faiss = SearchEngine.open(faiss_settings)
    embedder = CachedQueries(faiss.embedder)
    faiss = SearchEngine.open(faiss_settings, embedder=embedder)
    queries = load_queries(SUITES["policy"].queries)
    uri = str(work / "milvus.db")
    copies = {"milvus_build": False, "milvus_build_plus_add": True}
    engines = {}
    for name, split in copies.items():
        copy_to_milvus(index, uri, name, split)
        s = Settings.from_env({}, index_dir=work / name, milvus_uri=uri, milvus_collection=name)
        engines[name] = SearchEngine.open(s, embedder=embedder)
        bm25 = engines[name].version.bm25
        log(f"{name}: {type(bm25).__name__}, drift {getattr(bm25, 'drift', None)}")
    out: dict = {"index": str(index), "queries": len(queries), "modes": {}}
    for mode in MODES:
        base, base_mrr = measure(faiss, queries, mode)
        row = {"faiss_mrr": round(base_mrr, 4)}
        for name, engine in engines.items():
            ids, mrr = measure(engine, queries, mode)
            row[name] = {"top10_overlap": round(overlap(ids, base), 4), "mrr": round(mrr, 4),
                         "mrr_delta": round(mrr - base_mrr, 4)}
        out["modes"][mode] = row
        log(f"{mode}: {row}")
    shutil.rmtree(work, ignore_errors=True)
    return out


def log(msg: str) -> None:
    print(f"[lexical_parity {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    prog = "python -m indexer.tools.bench.lexical_parity"
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=DATA_DIR / "index-eval" / "policy")
    ap.add_argument("--work", type=Path, default=DATA_DIR / "bench" / f"lexical-parity-{os.getpid()}")
    ap.add_argument("--out", type=Path, default=DATA_DIR / "bench" / "lexical_parity.json")
    args = ap.parse_args(argv)
    results = run(args.index, args.work)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
