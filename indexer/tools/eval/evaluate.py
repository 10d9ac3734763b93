"""Retrieval evaluation: run query sets against an index and report R@k, MRR and nDCG.

Usage::

    python -m indexer.tools.eval --build                 # (re)build data/index-eval/{policy,cmrc}, evaluate both
    python -m indexer.tools.eval --suite policy          # evaluate the policy suite on its existing index
    python -m indexer.tools.eval --index data/index --set data/eval/policy_queries.jsonl --verbose
    python -m indexer.tools.eval --modes dense,hybrid --json data/tmp/eval.json

A query set is JSON Lines, one object per query::

    {"id": "p001", "query": "...", "kind": "paraphrase", "doc": "<part of the title>",
     "answer": "<verbatim phrase the correct passage contains>"}
    {"id": "TRIAL_800_QUERY_0", "query": "...", "kind": "cmrc", "doc_id": "TRIAL_800"}

A result is correct when it comes from a target document (title or source file
name contains `doc`, or doc id / source file name equals `doc_id`) and, when an
`answer` is given, its text contains the answer (both compared folded: simplified,
half-width, lower case, whitespace removed). The relevant passages a query has
in the index are counted the same way over the target documents' chunks, which
gives nDCG its ideal; a query whose answer is in no chunk is reported as a warning.
The ms/q column is wall time per query through search_many; modes after the first may
reuse query embeddings from the engine's cache, so compare it within one mode only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from indexer.config import PROJECT_ROOT, Settings
from indexer.tools.eval.judge import Judge
from indexer.tools.eval.metrics import query_metrics
from indexer.tools.eval.queries import CMRC_QUERIES, SPLITS, EvalQuery, convert_cmrc, load_queries
from indexer.tools.eval.report import Outcome, format_failures, format_table, report_json, summarize, unanswerable
from indexer.tools.eval.suites import SUITES, build_suite, model_change, retokenize_if_stale

BATCH = 200  # queries per search_many call; well under Settings.max_batch_queries
_SPACE_RE = re.compile(r"\s+")


def evaluate(
    engine,
    queries: Sequence[EvalQuery],
    modes: Sequence[str] = ("dense", "lexical", "hybrid"),
    k: int = 10,
    set_name: str = "",
    judge: Judge | None = None,
    keep_top: int = 3,
) -> list[Outcome]:
    """Search every query in every mode (batched through search_many) and score the rankings."""
    judge = judge or Judge(engine)
    outcomes: list[Outcome] = []
    for mode in modes:
        for start in range(0, len(queries), BATCH):
            batch = list(queries[start : start + BATCH])
            t0 = time.perf_counter()
            responses = engine.search_many([q.query for q in batch], k=k, mode=mode)
            per_query_ms = (time.perf_counter() - t0) * 1000 / max(len(batch), 1)
            for q, resp in zip(batch, responses, strict=True):
                rels = [judge.is_relevant(q, r) for r in resp.results]
                n_rel = judge.n_relevant(q)
                top = [
                    {"rank": r.rank, "title": r.title, "text": _snippet(r.text), "relevant": rel}
                    for r, rel in zip(resp.results[:keep_top], rels, strict=False)
                ]
                outcomes.append(
                    Outcome(
                        set=set_name,
                        mode=mode,
                        query=q,
                        rels=rels,
                        n_relevant=n_rel,
                        metrics=query_metrics(rels, n_rel or None),
                        took_ms=per_query_ms,
                        top=top,
                    )
                )
    return outcomes


def _snippet(text: str, width: int = 60) -> str:
    flat = _SPACE_RE.sub(" ", text).strip()
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# ---------------------------------------------------------------- CLI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.eval", description=__doc__.split("\n")[0])
    p.add_argument("--suite", help=f"comma list of {', '.join(SUITES)} (default: all suites when no --set)")
    p.add_argument(
        "--build", action="store_true", help="rebuild the suites' indexes under data/index-eval/ (built when missing)"
    )
    p.add_argument("--index", type=Path, help="index folder for --set (default: the configured index)")
    p.add_argument("--set", dest="sets", type=Path, nargs="+", default=[], help="query set files (JSONL)")
    p.add_argument("--modes", default="dense,lexical,hybrid", help="comma list of dense, lexical, hybrid")
    p.add_argument("--k", type=int, default=10, help="results per query (metrics go to @10)")
    p.add_argument(
        "--split",
        choices=SPLITS,
        help="only this half of sets that carry a split (tune on dev; sets without one run whole)",
    )
    p.add_argument("--limit", type=int, help="only the first N queries of each set (quick runs)")
    p.add_argument("--model", help="embedding model id or folder (default from settings)")
    p.add_argument("--json", dest="json_out", type=Path, help="write summary and per-query results here")
    p.add_argument("--verbose", "-v", action="store_true", help="list failed queries with the top 3 results")
    args = p.parse_args(argv)
    if args.build and args.sets:
        p.error("--build works on suites; use --suite instead of --set")
    if args.k < 1:
        p.error("--k must be at least 1")
    return args


def main(argv: Sequence[str] | None = None, embedder=None) -> int:
    """CLI entry; `embedder` replaces the configured model (tests pass a fake one)."""
    from indexer.errors import SearchEngineError
    from indexer.retrieval import MODES

    args = _parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"unknown mode(s): {', '.join(bad)}; choose from {', '.join(MODES)}", file=sys.stderr)
        return 2
    settings = Settings.from_env(**({"model": args.model} if args.model else {}))
    names = [s.strip() for s in (args.suite or ("" if args.sets else ",".join(SUITES))).split(",") if s.strip()]
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        print(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    try:
        jobs = _suite_jobs(names, args.build, settings, embedder)
    except SearchEngineError as exc:
        print(f"error: building {exc}", file=sys.stderr)
        return 2
    jobs += [(path.stem, path, args.index or settings.index_dir) for path in args.sets]
    try:
        outcomes, indexes = _run_jobs(jobs, args, modes, settings, embedder)
    except (SearchEngineError, FileNotFoundError, ValueError) as exc:
        hint = " (build the eval indexes with --build)" if names and not args.build else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return 2
    _report(outcomes, indexes, args)
    return 0


def _suite_jobs(names: list[str], build: bool, settings: Settings, embedder) -> list[tuple[str, Path, Path]]:
    """(set name, query file, index folder) per suite, building a suite's index first when asked or missing."""
    from indexer.errors import SearchEngineError
    from indexer.store import current_version_name

    jobs = []
    for name in names:
        suite = SUITES[name]
        changed = model_change(suite.index_dir, settings, embedder)
        if changed:
            print(f"rebuilding {suite.index_dir}: {changed}", file=sys.stderr)
        if build or changed or current_version_name(suite.index_dir) is None:
            try:
                report = build_suite(suite, settings, embedder=embedder)
            except SearchEngineError as exc:
                raise SearchEngineError(f"{suite.index_dir}: {exc}") from exc
            print(
                f"built {suite.index_dir}: {len(report.added)} added, {len(report.replaced)} replaced, "
                f"{len(report.unchanged)} unchanged, {report.chunks} chunks, {report.seconds:.1f}s",
                file=sys.stderr,
            )
            for err in report.errors:
                print(f"  build error: {err}", file=sys.stderr)
        else:
            retokenize_if_stale(suite.index_dir, settings)
            if name == "cmrc" and not CMRC_QUERIES.exists():
                convert_cmrc()
        jobs.append((name, suite.queries, suite.index_dir))
    return jobs


def _run_jobs(
    jobs: list[tuple[str, Path, Path]], args: argparse.Namespace, modes: list[str], settings: Settings, embedder
) -> tuple[list[Outcome], dict[str, str]]:
    """Every job's queries through one engine per index folder; the outcomes and each set's index."""
    from indexer.retrieval import SearchEngine

    outcomes: list[Outcome] = []
    indexes: dict[str, str] = {}
    engines: dict[Path, tuple[SearchEngine, Judge]] = {}
    for set_name, qpath, index_dir in jobs:
        queries = load_queries(qpath)
        if args.split:
            queries = [q for q in queries if not q.split or q.split == args.split]
        queries = queries[: args.limit] if args.limit else queries
        if index_dir not in engines:
            engine = SearchEngine.open(replace(settings, index_dir=index_dir), embedder)
            engines[index_dir] = (engine, Judge(engine))
        engine, judge = engines[index_dir]
        indexes[set_name] = _display(index_dir)
        outcomes += evaluate(engine, queries, modes, k=args.k, set_name=set_name, judge=judge)
    for engine, _ in engines.values():
        engine.close()
    return outcomes, indexes


def _report(outcomes: list[Outcome], indexes: dict[str, str], args: argparse.Namespace) -> None:
    """The table, warnings about unanswerable queries, failures (-v) and the JSON file (--json)."""
    print(format_table(summarize(outcomes)))
    missing = unanswerable(outcomes)
    if missing:
        print(
            f"\nwarning: {len(missing)} queries have no chunk containing their answer "
            f"(missing document or answer phrase split by chunking):",
            file=sys.stderr,
        )
        for q in missing:
            print(f"  {q.id}: {q.expected()}", file=sys.stderr)
    if args.verbose:
        failures = format_failures(outcomes, k=min(args.k, 10))
        print("\nfailures (no correct passage in the top 10):\n" + (failures or "  none"))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(
            json.dumps(report_json(outcomes, args.k, indexes), ensure_ascii=False, indent=1), encoding="utf-8"
        )


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
