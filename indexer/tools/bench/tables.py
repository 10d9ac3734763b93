"""The bench's printed tables, table-driven: each table is a title, column specs and rows from the results.

A column is (header, format spec); the spec's alignment and width also place the header. A row is
a tuple of cell values, or a plain string (an error line, a sub-row) printed as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

Column = tuple[str, str]  # (header, format spec such as ">9", "<6", "8.1f")
Row = tuple | str

LATENCY_MODES = ("embed_only", "dense", "lexical", "hybrid", "hybrid_cached", "hybrid_filtered",
                 "hybrid_no_sentence_embedding", "hybrid_out_of_domain")


def _width(spec: str) -> tuple[str, int]:
    m = re.match(r"([<>^]?)(\d*)", spec)
    align = m.group(1) or ("<" if spec.endswith("s") else ">")
    return align, int(m.group(2) or 0)


def _cell(value, spec: str) -> str:
    if value is None:
        align, width = _width(spec)
        return format("-", f"{align}{width}")
    return format(value, spec)


def table(title: str, columns: list[Column], rows: Iterable[Row]) -> list[str]:
    """Title, header line and one line per row (blank line first, as between all sections)."""
    header = " ".join(format(h, "{}{}".format(*_width(spec))) for h, spec in columns)
    lines = ["", title, header]
    for row in rows:
        lines.append(row if isinstance(row, str) else " ".join(_cell(v, s) for v, (_, s) in zip(row, columns)))
    return lines


# ---------------------------------------------------------------- sections


def machine_line(meta: dict) -> str:
    m = meta.get("machine", {})
    return (f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs (budget {m.get('cpu_budget')}), "
            f"{m.get('mem_gb')} GB, native bf16 {m.get('native_bf16')}; load average at start "
            f"{meta.get('load_start')}, at end {meta.get('load_end')}; {'quick' if meta.get('quick') else 'full'}"
            f" run, {meta.get('seconds', 0) / 60:.1f} min")


def indexing(ix: dict) -> list[str]:
    cols = [("dtype", "<6"), ("bare/s", "8.1f"), ("pipeline/s", "10.1f"), ("ratio", "6.3f"), ("embed s", "8.1f"),
            ("other s", "8.1f"), ("threads", "7.1f"), ("load", "")]
    rows: list[Row] = []
    for r in ix["runs"]:
        if "error" in r:
            rows.append(f"{r['dtype']:<6} error: {r['error']}")
            continue
        pipe = r["pipeline"]
        rows.append((r["dtype"], r["bare"]["chunks_per_s"], pipe["chunks_per_s"], r["ratio"], pipe["embed_seconds"],
                     pipe["other_seconds"], r["bare"]["threads"], str(r["load"][0])))
    for p in ix.get("peers", []):
        rows.append(f"{p['engine']}: error: {p['error']}" if "error" in p else
                    f"{p['engine']} ({p['dtype']}): {p['chunks_per_s']:.1f} chunks/s "
                    f"(encode + its BM25 index, {p['torch_threads']} torch threads)")
    title = (f"Indexing ({ix['chunks']} chunks, {ix['files']} files, "
             f"{'whole corpus' if ix['whole_corpus'] else 'subset'})")
    return table(title, cols, rows)


def quality(q: dict, peers: list[dict]) -> list[str]:
    cols = [("engine", "<28"), ("mode", "<8"), ("MRR@10", "7.3f"), ("R@10", "6.3f")]
    rows: list[Row] = [(f"ours {dtype}", mode, v["MRR@10"], v["R@10"])
                       for dtype, per in q.get("by_dtype", {}).items() for mode, v in per.items()]
    rows += [("ours (index used below)", mode, v["MRR@10"], v["R@10"]) for mode, v in q.get("ours", {}).items()]
    rows += [(p["name"], "hybrid", p["quality"]["MRR@10"], p["quality"]["R@10"]) for p in peers if "quality" in p]
    return table(f"Quality on the real corpus (policy queries, n={q.get('n', '?')})", cols, rows)


def latency(sizes: list[dict]) -> list[str]:
    cols = [("chunks", ">9"), ("index", "<6"), ("mode", "<28"), ("p50", "7.1f"), ("p95", "7.1f"), ("p99", "7.1f"),
            ("n", "5d")]
    rows: list[Row] = []
    for s in sizes:
        if "inprocess" not in s:
            rows.append(f"{s['chunks']:>9} error: {s.get('error')}")
            continue
        for mode in LATENCY_MODES:
            v = s["inprocess"].get(mode)
            if v and v.get("n"):
                rows.append((s["chunks"], s["vector_index"]["type"], mode, v["p50"], v["p95"], v["p99"], v["n"]))
    title = "In-process latency, ms (policy queries, query embedding included, uncached unless marked; k=10)"
    return table(title, cols, rows)


def http(sizes: list[dict], clients) -> list[str]:
    cols = [("chunks", ">9"), ("mode", "<14"), ("p50", "7.1f"), ("p95", "7.1f"), ("p99", "7.1f"), ("q/s", "6.1f"),
            ("errors", "6d")]
    rows: list[Row] = []
    for s in sizes:
        h = s.get("http")
        if h and "error" in h:
            rows.append(f"{s['chunks']:>9} error: {h['error']}")
        elif h:
            rows += [(s["chunks"], mode, v["p50"], v["p95"], v["p99"], v["qps"], v["errors"])
                     for mode, v in h["modes"].items() if v.get("n")]
    return table(f"HTTP on loopback (waitress; {clients} concurrent keep-alive clients, 1client: one), ms", cols, rows)


def size_and_recall(sizes: list[dict]) -> list[str]:
    cols = [("chunks", ">9"), ("index", "<6"), ("disk MB", "8.0f"), ("build s", "8.0f"), ("RSS MB", "7.0f"),
            ("peak MB", "8.0f"), ("health s", "8.1f"), ("1st q s", "7.1f"), ("recall@10", "9.4f"),
            ("filtered", "8.4f")]
    rows: list[Row] = []
    for s in (s for s in sizes if "inprocess" in s):
        h, rec = s.get("http", {}), s.get("recall", {})
        rss, st = h.get("rss_after_load", {}), h.get("startup", {})
        build_s = s["synthesis_s"] + s["write_s"]
        rows.append((s["chunks"], s["vector_index"]["type"], s["disk"]["total"] / 2**20, build_s,
                     rss.get("rss_mb"), rss.get("peak_mb"), st.get("health_s"), st.get("first_query_s"),
                     rec.get("dense", {}).get("recall_at_10", 0), rec.get("dense_filtered", {}).get("recall_at_10")))
        rows += [f"{'':>9} efSearch {e['ef_search']:>4}: recall@10 {e['recall_at_10']:.4f}, "
                 f"dense search p50 {e['p50_ms']:.2f} ms" for e in rec.get("ef_sweep", [])]
    return table("Size, memory, start-up and vector recall", cols, rows)


def peer_latency(peers: list[dict], ours_by_size: dict) -> list[str]:
    cols = [("engine", "<24"), ("chunks", ">9"), ("p50", "7.1f"), ("p95", "7.1f"), ("p99", "7.1f"),
            ("build s", "8.1f"), ("vs ours p50", ">11.1f")]
    rows: list[Row] = []
    for p in peers:
        if "error" in p:
            rows.append(f"{p['name']:<24} {p.get('chunks', ''):>9} error: {p['error']}")
            continue
        h = p["hybrid"]
        ours = ours_by_size.get(str(p["chunks"]), {}).get("p50")
        rows.append((p["name"], p["chunks"], h["p50"], h["p95"], h["p99"], p["build_s"], ours))
    return table("Peers: hybrid latency, ms (same chunks, vectors and model; query embedding included)", cols, rows)


def goals_and_notes(goals: list[dict], notes: list[str]) -> list[str]:
    lines: list[str] = []
    if goals:
        lines += ["", "Goals"] + [
            f"[{'met' if x['met'] else 'NOT met'}] {x['goal']}: {x['measured']} (target {x['target']})"
            + (f" - {x['note']}" if x.get("note") else "") for x in goals]
    if notes:
        lines += ["", "Notes"] + [f"- {n}" for n in notes]
    return lines


def format_tables(results: dict) -> str:
    """Every section that the results hold, as plain text."""
    meta = results.get("meta", {})
    lines = [machine_line(meta)]
    if results.get("indexing"):
        lines += indexing(results["indexing"])
    if results.get("quality"):
        lines += quality(results["quality"], results.get("peers", []))
    sizes = results.get("sizes", [])
    if sizes:
        lines += latency(sizes)
        lines += http(sizes, meta.get("config", {}).get("http_clients", "?"))
        lines += size_and_recall(sizes)
    if results.get("peers"):
        lines += peer_latency(results["peers"], results.get("peers_ours", {}))
    lines += goals_and_notes(results.get("goals", []), meta.get("notes", []))
    return "\n".join(lines)
