"""Calibrate the weak-match line: the query-passage cosine below which the page says no close match was found.

    python -m indexer.tools.weakline [--index data/index-eval/policy] [--negatives 400] [--json out.json]

Positives are the policy eval questions whose answer the hybrid search finds in its top 10 over the policy
index; negatives are CMRC questions (Wikipedia trivia with no answer in policy documents) asked of the same
index. A query is called "closely matched" when its best passage's cosine reaches the line. The line is
chosen on the dev half (max F1 of that call) and reported on the test half, with passage-level figures:
among the top-10 passages of the policy questions, how many above the line are correct (precision) and how
many correct ones are above it (recall).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from indexer.config import Settings
from indexer.retrieval import SearchEngine
from indexer.tools.eval.judge import Judge
from indexer.tools.eval.queries import CMRC_QUERIES, INDEX_EVAL_DIR, POLICY_QUERIES, load_queries, split_of

GRID = np.round(np.arange(0.70, 0.951, 0.005), 3)


def _prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def collect(engine: SearchEngine, negatives: int, k: int = 10) -> tuple[list[dict], list[dict]]:
    """(queries, passages): per query its split, label and top-1 cosine; per top-k passage its cosine and label."""
    judge = Judge(engine)
    policy = load_queries(POLICY_QUERIES)
    cmrc = load_queries(CMRC_QUERIES)[:negatives]
    queries, passages = [], []
    for q, resp in zip(policy, engine.search_many([q.query for q in policy], k=k, mode="hybrid")):
        relevant = [judge.is_relevant(q, r) for r in resp.results]
        top = max((r.similarity or 0.0 for r in resp.results), default=0.0)
        queries.append({"split": q.split or split_of(q.id), "positive": any(relevant), "top": top, "kind": q.kind})
        passages += [{"sim": r.similarity or 0.0, "relevant": ok} for r, ok in zip(resp.results, relevant)]
    for q, resp in zip(cmrc, engine.search_many([q.query for q in cmrc], k=k, mode="hybrid")):
        top = max((r.similarity or 0.0 for r in resp.results), default=0.0)
        queries.append({"split": split_of(q.id), "positive": False, "top": top, "kind": "negative"})
    return queries, passages


def query_scores(queries: list[dict], t: float) -> dict:
    tp = sum(q["positive"] and q["top"] >= t for q in queries)
    fp = sum(not q["positive"] and q["top"] >= t for q in queries)
    fn = sum(q["positive"] and q["top"] < t for q in queries)
    return _prf(tp, fp, fn)


def passage_scores(passages: list[dict], t: float) -> dict:
    tp = sum(p["relevant"] and p["sim"] >= t for p in passages)
    fp = sum(not p["relevant"] and p["sim"] >= t for p in passages)
    fn = sum(p["relevant"] and p["sim"] < t for p in passages)
    return _prf(tp, fp, fn)


def calibrate(queries: list[dict], passages: list[dict]) -> dict:
    """The line with the best dev F1 (ties: the higher line), and its figures on dev and test."""
    dev = [q for q in queries if q["split"] == "dev"]
    test = [q for q in queries if q["split"] == "test"]
    best = max(GRID.tolist(), key=lambda t: (query_scores(dev, t)["f1"], t))
    return {
        "threshold": best,
        "dev": query_scores(dev, best),
        "test": query_scores(test, best),
        "passages": passage_scores(passages, best),
        "n": {"dev": len(dev), "test": len(test), "passages": len(passages)},
        "curve": [{"t": t, **query_scores(test, t)} for t in GRID.tolist()[::4]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m indexer.tools.weakline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=INDEX_EVAL_DIR / "policy", help="the policy index")
    ap.add_argument("--negatives", type=int, default=400, help="CMRC questions used as negatives")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    engine = SearchEngine.open(Settings.from_env(index_dir=args.index))
    result = calibrate(*collect(engine, args.negatives))
    print(f"weak-match line: cosine {result['threshold']}")
    for part in ("dev", "test", "passages"):
        r = result[part]
        print(f"  {part:9s} precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
