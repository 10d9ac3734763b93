"""What a run gives back (Outcome per query and mode) and its reports: the table by part and kind, failures,
queries no passage answers, and the JSON written with --json."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from indexer.tools.eval.metrics import METRIC_NAMES, group_mean, mean_metrics
from indexer.tools.eval.queries import KINDS, SPLITS, EvalQuery


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
