"""Writers for the batch CLI: JSONL (the API's objects), CSV (one row per hit), a plain-text table."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from datetime import date
from typing import TextIO
from urllib.parse import quote

from indexer.models import SearchResponse

CSV_COLUMNS = (
    "query",
    "rank",
    "title",
    "year",
    "type",
    "heading_path",
    "passage",
    "best_sentence",
    "link",
    "score",
    "doc_id",
    "chunk_id",
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


def passage_link(doc_id: str, chunk_id: str, base: str = "") -> str:
    """The passage in the document view (`base` = the server's address; relative without one)."""
    _, sep, tail = chunk_id.rpartition("#")
    anchor = f"p{int(tail)}" if sep and tail.isascii() and tail.isdigit() else ""
    url = f"{base.rstrip('/')}/doc/{quote(doc_id, safe='')}?hit={quote(chunk_id, safe='')}"
    return url + (f"#{anchor}" if anchor else "")


def csv_name(query: str, when: date | None = None, suffix: str = "") -> str:
    """A download name carrying the query and the date: 检索-乡村振兴-2026-11-30[-全部].csv."""
    safe = re.sub(r'[\\/:*?"<>|\s]+', "_", query).strip("_.")[:40] or "query"
    return f"检索-{safe}-{(when or date.today()).isoformat()}{suffix}.csv"


def write_csv(responses: Iterable[SearchResponse], out: TextIO, link_base: str = "") -> None:
    """One row per result (a query without hits has no row): what a reader needs in a spreadsheet.

    The one CSV writer of page export and batch CLI; every text cell is neutralised (csv_cell).
    """
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for resp in responses:
        for r in resp.results:
            meta = r.meta or {}
            w.writerow(
                csv_cell(cell)
                for cell in [
                    resp.query,
                    r.rank,
                    r.title,
                    meta.get("year") or "",
                    meta.get("type") or "",
                    " > ".join(r.heading_path),
                    r.text,
                    r.best_sentence,
                    passage_link(r.doc_id, r.chunk_id, link_base),
                    f"{r.score:.6g}",
                    r.doc_id,
                    r.chunk_id,
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
