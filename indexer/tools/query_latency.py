"""Query latency by language: p50/p95 of one query at a time, query cache emptied, Chinese vs the rest.

    python -m indexer.tools.query_latency [--index data/index-eval/policy] [--set data/eval/policy_queries.jsonl]

Each query goes through SearchEngine.search (embedding the query included) after a warm-up; English
questions are the ones without Chinese characters (they used to embed their results' sentences).
Also reported: CPU time of the searching thread per query, the 1-minute load average before and after,
and whether malloc used huge pages (the tool restarts itself with them, as the server does).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from indexer.config import DATA_DIR, Settings
from indexer.machine import MALLOC_HUGE_PAGES
from indexer.retrieval import SearchEngine
from indexer.textnorm import has_chinese
from indexer.tools.eval.queries import POLICY_QUERIES, load_queries


def measure(engine: SearchEngine, queries: list[str], mode: str, rounds: int) -> dict[str, dict[str, float]]:
    """Milliseconds per query by group ("chinese", "other"): p50, p95, max over `rounds` passes, and the
    CPU time of the searching thread (mean, p95): on shared cores it says what a query costs, load aside."""
    engine.warm_up()
    times: dict[str, list[float]] = {"chinese": [], "other": []}
    cpu: dict[str, list[float]] = {"chinese": [], "other": []}
    clear = getattr(engine.embedder, "clear_cache", None)
    for _ in range(rounds):
        for q in queries:
            if callable(clear):
                clear()
            group = "chinese" if has_chinese(q) else "other"
            t0, c0 = time.perf_counter(), time.thread_time()
            engine.search(q, k=10, mode=mode)
            times[group].append((time.perf_counter() - t0) * 1000)
            cpu[group].append((time.thread_time() - c0) * 1000)
    return {
        group: {
            "n": len(ms),
            "p50": round(float(np.percentile(ms, 50)), 1),
            "p95": round(float(np.percentile(ms, 95)), 1),
            "max": round(max(ms), 1),
            "cpu_mean": round(float(np.mean(cpu[group])), 1),
            "cpu_p95": round(float(np.percentile(cpu[group], 95)), 1),
        }
        for group, ms in times.items()
        if ms
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.query_latency", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, default=DATA_DIR / "index-eval" / "policy")
    p.add_argument("--set", dest="queries", type=Path, default=POLICY_QUERIES)
    p.add_argument("--mode", default="hybrid")
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    engine = SearchEngine.open(Settings.from_env(index_dir=args.index))
    queries = [q.query for q in load_queries(args.queries)]
    load = os.getloadavg()[0]
    report = measure(engine, queries, args.mode, args.rounds)
    report["load_1min"] = {"before": round(load, 2), "after": round(os.getloadavg()[0], 2)}
    report["malloc_huge_pages"] = MALLOC_HUGE_PAGES in os.environ.get("GLIBC_TUNABLES", "").split(":")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    from indexer.machine import restart_with_malloc_huge_pages

    restart_with_malloc_huge_pages(Settings.from_env())  # as `python -m search_app serve` runs
    raise SystemExit(main())
