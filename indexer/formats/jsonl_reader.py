"""JSONL bulk import: one document per line, `{"title", "text", "date", "year", "source", "type", "id"}`.

Scripts that scrape or convert many documents write one file; a bad line (broken
JSON, no text, a year that is not a number) is reported with its line number and
the other lines still load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from indexer.metadata import clean_fields


@dataclass
class Record:
    line: int  # 1-based line number in the file
    text: str
    fields: dict  # checked title, date, year, source, type
    doc_id: str = ""  # the line's "id", as given


@dataclass
class BadLine:
    line: int
    reason: str


def parse(text: str) -> Iterator[Record | BadLine]:
    """Records and bad lines in file order; blank lines are skipped."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(data, dict):
            yield BadLine(number, f"not a JSON object but {type(data).__name__}")
            continue
        body = data.get("text")
        if not isinstance(body, str) or not body.strip():
            yield BadLine(number, 'no "text" (a non-empty string is needed)')
            continue
        try:
            fields = clean_fields(data)
        except ValueError as exc:
            yield BadLine(number, str(exc))
            continue
        doc_id = data.get("id")
        if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, str | int)):
            yield BadLine(number, '"id" must be text or a number')
            continue
        yield Record(number, body, fields, "" if doc_id is None else str(doc_id))
