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
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from indexer.config import DATA_DIR, PROJECT_ROOT, Settings
from indexer.models import SearchResult
from indexer.tools.eval.metrics import METRIC_NAMES, group_mean, mean_metrics, query_metrics

EVAL_DIR = DATA_DIR / "eval"
INDEX_EVAL_DIR = DATA_DIR / "index-eval"
CORPUS_DIR = DATA_DIR / "corpus"
POLICY_QUERIES = EVAL_DIR / "policy_queries.jsonl"
CMRC_JSON = EVAL_DIR / "cmrc2018_trial.json"
CMRC_QUERIES = EVAL_DIR / "cmrc2018_queries.jsonl"
CMRC_DOCS_DIR = DATA_DIR / "tmp" / "cmrc-docs"

KINDS = ("paraphrase", "keyword", "fact", "english", "traditional", "cmrc")
BATCH = 200  # queries per search_many call; well under Settings.max_batch_queries


# ---------------------------------------------------------------- query sets


@dataclass(frozen=True)
class EvalQuery:
    """One question and how to recognise a correct passage for it."""

    id: str
    query: str
    kind: str
    doc: str = ""  # substring of the target document's title (or source file name)
    answer: str = ""  # verbatim phrase the correct passage contains; "" = any chunk of the doc
    doc_id: str = ""  # exact doc id or source file stem, instead of / besides `doc`
    split: str = ""  # "dev" (tune on it) or "test" (report only); see split_of
    batch: str = ""  # "v1" = the first 94 policy questions, "v2" = those added with issue 10
    numfmt: bool = False  # a fact whose numbers/dates the question writes differently from the text

    def expected(self) -> str:
        target = self.doc_id or self.doc
        return f"{target} ∋ {self.answer}" if self.answer else target


SPLITS = ("dev", "test")


def split_of(query_id: str) -> str:
    """The fixed dev/test rule: first byte of sha1(id) even -> dev, odd -> test.

    A hash of the id (not the file order) keeps every question's half stable when
    questions are added or reordered, and nobody chooses it by looking at results.
    """
    return SPLITS[hashlib.sha1(query_id.encode("utf-8")).digest()[0] % 2]


def load_queries(path: Path) -> list[EvalQuery]:
    """Read and validate a JSONL query set; errors name the line so the file is easy to fix."""
    queries: list[EvalQuery] = []
    seen: set[str] = set()
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
        missing = [key for key in ("id", "query", "kind") if not obj.get(key)]
        if missing:
            raise ValueError(f"{path}:{lineno}: missing {', '.join(missing)}")
        if not (obj.get("doc") or obj.get("doc_id")):
            raise ValueError(f"{path}:{lineno}: needs 'doc' or 'doc_id'")
        if obj["id"] in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {obj['id']!r}")
        seen.add(obj["id"])
        split = str(obj.get("split") or "")
        if split and split != split_of(str(obj["id"])):
            rule = split_of(str(obj["id"]))
            raise ValueError(f"{path}:{lineno}: split {split!r} breaks the rule (sha1 of the id gives {rule!r})")
        queries.append(
            EvalQuery(
                id=str(obj["id"]),
                query=str(obj["query"]),
                kind=str(obj["kind"]),
                doc=str(obj.get("doc", "")),
                answer=str(obj.get("answer", "")),
                doc_id=str(obj.get("doc_id", "")),
                split=split,
                batch=str(obj.get("batch") or ""),
                numfmt=bool(obj.get("numfmt", False)),
            )
        )
    return queries


def write_queries(queries: Sequence[EvalQuery], path: Path) -> None:
    """Write a query set as JSONL, leaving out empty fields."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for q in queries:
            obj = {key: value for key, value in asdict(q).items() if value}
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def convert_cmrc(
    json_path: Path = CMRC_JSON, docs_dir: Path = CMRC_DOCS_DIR, queries_out: Path | None = CMRC_QUERIES
) -> list[EvalQuery]:
    """CMRC 2018 (SQuAD format) as a retrieval task: one .txt per paragraph, one query per question.

    Each paragraph's context goes to `docs_dir/<paragraph id>.txt` (old .txt files
    there are removed so the folder mirrors the JSON); each question's gold
    document is its own paragraph (`doc_id` = paragraph id, no answer phrase).
    Empty questions (two in the trial set) are skipped.
    """
    data = json.loads(Path(json_path).read_text(encoding="utf-8"))["data"]
    docs_dir.mkdir(parents=True, exist_ok=True)
    for old in docs_dir.glob("*.txt"):
        old.unlink()
    queries: list[EvalQuery] = []
    for article in data:
        for para in article["paragraphs"]:
            pid = para["id"]
            (docs_dir / f"{pid}.txt").write_text(para["context"].strip() + "\n", encoding="utf-8")
            for qa in para["qas"]:
                if not qa["question"].strip():
                    continue  # the trial set has two empty questions; a search needs a query
                queries.append(EvalQuery(id=qa["id"], query=qa["question"].strip(), kind="cmrc", doc_id=pid))
    if queries_out is not None:
        write_queries(queries, queries_out)
    return queries


# ---------------------------------------------------------------- suites


def policy_sources() -> list[Path]:
    """The seed speech(es) and the policy corpus, .txt only (SOURCES.md is not a document)."""
    return sorted((PROJECT_ROOT / "seeds").glob("*.txt")) + sorted(CORPUS_DIR.rglob("*.txt"))


def cmrc_sources() -> list[Path]:
    """CMRC paragraphs as files, regenerated from the JSON (with the query file) each time."""
    convert_cmrc()
    return sorted(CMRC_DOCS_DIR.glob("*.txt"))


@dataclass(frozen=True)
class Suite:
    """A query set together with the documents it was written over and its own index folder."""

    name: str
    queries: Path
    index_dir: Path
    sources: Callable[[], list[Path]]  # the files to index, called at build time


SUITES = {
    "policy": Suite("policy", POLICY_QUERIES, INDEX_EVAL_DIR / "policy", policy_sources),
    "cmrc": Suite("cmrc", CMRC_QUERIES, INDEX_EVAL_DIR / "cmrc", cmrc_sources),
}


def model_change(index_dir: Path, settings: Settings, embedder=None) -> str | None:
    """Why a suite's existing index does not fit the configured model and adapter, or `embedder`'s when given
    (None: it fits, or there is none): `make eval` then rebuilds it instead of stopping at the engine's mismatch
    error."""
    from indexer.model_identity import describe_model, embedder_identity, index_identity, same_model, settings_identity
    from indexer.store import read_manifest

    manifest = read_manifest(index_dir) or {}
    if "model" not in manifest:
        return None
    built = index_identity(manifest)
    here = embedder_identity(embedder) if embedder is not None else settings_identity(settings)
    return None if same_model(built, here) else f"built with {describe_model(*built)}, now {describe_model(*here)}"


def build_suite(suite: Suite, settings: Settings, embedder=None, progress: bool = True):
    """Build the suite's index afresh (a new version in its folder); returns the BuildReport."""
    from indexer.pipeline import build_index

    settings = replace(settings, index_dir=suite.index_dir)
    return build_index(suite.sources(), settings, embedder=embedder, progress=progress)


# ---------------------------------------------------------------- judging


_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold for answer matching: simplified, half-width, lower case, no whitespace."""
    from indexer.textnorm import fold

    return _SPACE_RE.sub("", fold(text))


class Judge:
    """Decides which results are correct, using the index's own document list.

    Resolving targets against the index (title, doc id and source file name)
    keeps the query files independent of how doc ids are derived.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.docs: list[tuple[str, str, str]] = []  # (doc_id, normalized title, source stem)
        for info in engine.documents():
            doc = engine.document(info["doc_id"])
            stem = Path(doc.source_path).stem if doc is not None and doc.source_path else ""
            self.docs.append((info["doc_id"], normalize(info.get("title") or ""), stem))
        self._targets: dict[tuple[str, str], frozenset[str]] = {}
        self._answer_cache: dict[tuple[str, str], int] = {}

    def targets(self, q: EvalQuery) -> frozenset[str]:
        key = (q.doc, q.doc_id)
        if key not in self._targets:
            found: set[str] = set()
            if q.doc_id:
                found |= {d for d, _, stem in self.docs if q.doc_id in (d, stem)}
            if q.doc:
                want = normalize(q.doc)
                found |= {d for d, title, stem in self.docs if want in title or want in normalize(stem)}
            self._targets[key] = frozenset(found)
        return self._targets[key]

    def is_relevant(self, q: EvalQuery, result: SearchResult) -> bool:
        if result.doc_id not in self.targets(q):
            return False
        return not q.answer or normalize(q.answer) in normalize(result.text)

    def n_relevant(self, q: EvalQuery) -> int:
        """Chunks of the target documents that contain the answer (all of them without one)."""
        key = (q.doc + "\x00" + q.doc_id, q.answer)
        if key not in self._answer_cache:
            want = normalize(q.answer)
            count = 0
            for doc_id in sorted(self.targets(q)):
                for chunk in self.engine.chunks_of(doc_id):
                    count += 1 if not want or want in normalize(chunk.text) else 0
            self._answer_cache[key] = count
        return self._answer_cache[key]


# ---------------------------------------------------------------- running


@dataclass
class Outcome:
    """One query under one mode: what came back and how it scored."""

    set: str
    mode: str
    query: EvalQuery
    rels: list[bool]
    n_relevant: int
    metrics: dict[str, float]
    took_ms: float
    top: list[dict] = field(default_factory=list)  # first results, for failure listings

    @property
    def first_hit(self) -> int | None:
        return next((i + 1 for i, rel in enumerate(self.rels) if rel), None)


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


def parts_of(group: Sequence[Outcome]) -> list[tuple[str, list[Outcome]]]:
    """The halves a set is reported in: all, then dev and test, then the first 94 (batch v1)."""
    parts: list[tuple[str, list[Outcome]]] = [("all", list(group))]
    for split in SPLITS:
        sub = [o for o in group if o.query.split == split]
        if sub:
            parts.append((split, sub))
    old = [o for o in group if o.query.batch == "v1"]
    if old and len(old) < len(group):
        parts.append(("old94" if len(old) == 94 else "v1", old))
    return parts


def _kind_rows(head: dict, group: Sequence[Outcome]) -> list[dict]:
    """Per-kind rows of one part, plus "numfmt" (facts whose numbers are written differently)."""
    labelled = [(o.query.kind, o.metrics) for o in group]
    labelled += [("numfmt", o.metrics) for o in group if o.query.numfmt]
    by_kind = group_mean(labelled)
    if len(by_kind) <= 1:
        return []
    order = sorted(by_kind, key=lambda kd: (KINDS.index(kd) if kd in KINDS else len(KINDS), kd))
    rows = []
    for kind in order:
        n = sum(1 for o in group if (o.query.numfmt if kind == "numfmt" else o.query.kind == kind))
        rows.append({**head, "kind": kind, "n": n, **by_kind[kind]})
    return rows


def summarize(outcomes: Sequence[Outcome]) -> list[dict]:
    """Rows of (set, mode, part, kind) with n, the mean metrics and ms per query; kind "all" first.

    part is "all", "dev", "test" (when the queries carry a split) and "old94" (the first
    94 policy questions, so figures stay comparable with earlier reports).
    """
    rows: list[dict] = []
    keys: list[tuple[str, str]] = []
    for o in outcomes:
        if (o.set, o.mode) not in keys:
            keys.append((o.set, o.mode))
    for set_name, mode in keys:
        group = [o for o in outcomes if o.set == set_name and o.mode == mode]
        for part, sub in parts_of(group):
            head = {"set": set_name, "mode": mode, "part": part}
            ms = sum(o.took_ms for o in sub) / len(sub)
            rows.append(
                {**head, "kind": "all", "n": len(sub), **mean_metrics([o.metrics for o in sub]), "ms_per_query": ms}
            )
            rows += _kind_rows(head, sub)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """Plain-text table, one line per summary row."""
    header = f"{'set':<10} {'mode':<8} {'part':<6} {'kind':<12} {'n':>5} " + " ".join(
        f"{m:>7}" for m in METRIC_NAMES
    )
    lines = [header + f" {'ms/q':>7}", "-" * (len(header) + 8)]
    for row in rows:
        ms = f"{row['ms_per_query']:7.1f}" if "ms_per_query" in row else ""
        metrics = " ".join(f"{row[m]:7.3f}" for m in METRIC_NAMES)
        kind = row["kind"] if row["kind"] == "all" else "  " + row["kind"]
        part = row.get("part", "all")
        lines.append(f"{row['set']:<10} {row['mode']:<8} {part:<6} {kind:<12} {row['n']:>5} {metrics} {ms}")
    return "\n".join(lines)


def format_failures(outcomes: Sequence[Outcome], k: int = 10) -> str:
    """Queries with no correct passage in the top k: the query, what was expected, the top 3 got."""
    lines: list[str] = []
    for o in outcomes:
        if any(o.rels[:k]):
            continue
        lines.append(f"[{o.set}/{o.mode}] {o.query.id} ({o.query.kind}) {o.query.query}")
        lines.append(f"    expected: {o.query.expected()}  (relevant chunks in index: {o.n_relevant})")
        for t in o.top:
            lines.append(f"    got #{t['rank']}: {t['title']} | {t['text']}")
    return "\n".join(lines)


def unanswerable(outcomes: Sequence[Outcome]) -> list[EvalQuery]:
    """Queries whose answer no chunk of the target document contains (broken set or chunking)."""
    seen: dict[str, EvalQuery] = {}
    for o in outcomes:
        if o.n_relevant == 0:
            seen.setdefault(o.set + "/" + o.query.id, o.query)
    return list(seen.values())


def report_json(outcomes: Sequence[Outcome], k: int, indexes: dict[str, str]) -> dict:
    """Summary rows plus each query's first-hit rank per mode, for diffing runs."""
    return {
        "k": k,
        "indexes": indexes,
        "summary": summarize(outcomes),
        "queries": [
            {
                "set": o.set,
                "mode": o.mode,
                "id": o.query.id,
                "kind": o.query.kind,
                "split": o.query.split,
                "batch": o.query.batch,
                "query": o.query.query,
                "first_hit": o.first_hit,
                "n_relevant": o.n_relevant,
                **o.metrics,
            }
            for o in outcomes
        ],
    }


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
            _retokenize_if_stale(suite.index_dir, settings)
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


def _retokenize_if_stale(index_dir: Path, settings: Settings) -> None:
    """A suite index tokenised by another tokenizer version is re-tokenised in place (vectors kept)."""
    import dataclasses

    from indexer.backend import open_store
    from indexer.pipeline import retokenize_index
    from indexer.textnorm import TOKENIZER_VERSION

    suite_settings = dataclasses.replace(settings, index_dir=index_dir)
    version = open_store(suite_settings).open_current()
    try:
        stale = version.manifest.get("tokenizer", "1") != TOKENIZER_VERSION
    finally:
        version.close()
    if stale:
        report = retokenize_index(suite_settings)
        print(f"re-tokenised {index_dir} (tokenizer {TOKENIZER_VERSION}): {report.chunks} chunks", file=sys.stderr)


def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
