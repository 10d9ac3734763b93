"""Writers for the batch CLI: JSONL (the API's objects), CSV (one row per hit), a plain-text table."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import TextIO

from indexer.models import SearchResponse

CSV_COLUMNS = (
    "query",
    "rank",
    "score",
    "doc_id",
    "title",
    "heading_path",
    "chunk_id",
    "start",
    "end",
    "text",
)
FORMATS = ("jsonl", "csv", "table")


def write_jsonl(responses: Iterable[SearchResponse], out: TextIO) -> None:
    """One line per query, exactly the object `GET /api/search` returns."""
    for r in responses:
        out.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """OWASP's rule against formula injection: a text cell starting with = + - @ tab or CR gets a
    leading ' so a spreadsheet shows it as text instead of running it (numbers are left as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(responses: Iterable[SearchResponse], out: TextIO) -> None:
    """One row per result; a query without hits has no row. Every text cell is neutralised (csv_cell)."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for resp in responses:
        for r in resp.results:
            w.writerow(
                csv_cell(cell)
                for cell in [
                    resp.query,
                    r.rank,
                    f"{r.score:.6g}",
                    r.doc_id,
                    r.title,
                    " > ".join(r.heading_path),
                    r.chunk_id,
                    r.start,
                    r.end,
                    r.text,
                ]
            )


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def write_table(responses: Iterable[SearchResponse], out: TextIO, passage_chars: int = 160) -> None:
    """For reading in a terminal: query header, then rank, score, title › path and the passage start."""
    for i, resp in enumerate(responses):
        if i:
            out.write("\n")
        out.write(f"查询: {resp.query}  [{resp.mode}, {resp.took_ms:.1f} ms, {len(resp.results)} 条结果]\n")
        if not resp.results:
            out.write("  (没有结果)\n")
        for r in resp.results:
            where = " › ".join([r.title, *r.heading_path])
            out.write(f"{r.rank:>3}. {r.score:>8.4g}  {where}\n")
            out.write(f"     {_one_line(r.best_sentence or r.text, passage_chars)}\n")


WRITERS = {"jsonl": write_jsonl, "csv": write_csv, "table": write_table}
