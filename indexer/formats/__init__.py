"""Readers for the formats documents arrive in (.docx, .pdf, .html, .ofd, .doc/.wps, images), by extension.

Each reader turns a file's bytes into `Extracted`: normalised text (one paragraph
per line, like a loaded .txt) plus what only the format knows: heading levels
from Word styles or <h1>-<h6>, where each PDF page starts, a title and dates.
documents.py adds ids, sidecar metadata and guesses. A reader imports its heavy
library (python-docx, pypdf, lxml) only when a file of its kind is read.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field

from indexer.formats.lines import join_lines

# suffix -> module holding `read(raw: bytes, max_bytes: int) -> Extracted`
READERS = {
    ".docx": "indexer.formats.docx_reader",
    ".pdf": "indexer.formats.pdf_reader",
    ".html": "indexer.formats.html_reader",
    ".htm": "indexer.formats.html_reader",
    ".ofd": "indexer.formats.ofd_reader",
    ".doc": "indexer.formats.doc_reader",
    ".wps": "indexer.formats.doc_reader",
    ".png": "indexer.formats.image_reader",
    ".jpg": "indexer.formats.image_reader",
    ".jpeg": "indexer.formats.image_reader",
    ".tif": "indexer.formats.image_reader",
    ".tiff": "indexer.formats.image_reader",
}
SUFFIXES = tuple(READERS)
OCR_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


class FormatError(Exception):
    """A file its reader cannot use; `reason` is meant for people (the caller adds the path)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Block:
    """One paragraph as a format delivers it; line breaks inside are soft and get glued."""

    text: str
    heading: int = 0  # 1..6 from the file's structure (Word heading style, <h2>); 0 = body
    table: int = 0  # a row of table number `table` (1, 2, ...; cells already joined by " | "); 0 = not a row
    caption: str = ""  # on a table's rows: its caption as the file marks it (<caption>), if any


@dataclass
class Extracted:
    text: str  # one clean paragraph per line, no blank lines
    headings: list[tuple[int, int]] = field(default_factory=list)  # (offset of a heading line, level 1..6)
    pages: list[int] = field(default_factory=list)  # offset where page n+1 starts (PDF)
    title: str = ""
    meta: dict = field(default_factory=dict)  # date, source, type the file declares
    timestamp: str = ""  # the file's own creation date, "YYYY-MM-DD"
    encoding: str | None = None
    tables: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, caption) of each table's rows
    ocr_pages: dict[str, float] = field(default_factory=dict)  # page number -> OCR confidence 0..100
    notes: list[str] = field(default_factory=list)  # what was skipped inside a file that still loaded


# A table's caption: "表1 主要指标", "附表2：……", "续表3", "Table 4. ..." (a short line of its own).
CAPTION = re.compile(r"^(?:续?表|附表|Table)\s*[0-9０-９一二三四五六七八九十]+(?:[-－.．][0-9]+)?(?:\s|[:：.．、]|$)")
CAPTION_MAX_CHARS = 60


def assemble(blocks: list[Block]) -> tuple[str, list[tuple[int, int]]]:
    """Blocks to document text and the offsets of structural headings in it."""
    text, headings, _ = assemble_tables(blocks)
    return text, headings


def assemble_tables(blocks: list[Block]) -> tuple[str, list[tuple[int, int]], list[tuple[int, int, str]]]:
    """Blocks to text, heading offsets and table spans (start, end, caption).

    A table's span starts at its caption paragraph when the paragraph just before the
    rows is one ("表1 主要指标"), so the caption is read with the rows and can head them.
    """
    paragraphs: list[str] = []
    headings: list[tuple[int, int]] = []
    tables: dict[int, list] = {}
    offset, previous = 0, (-1, "", 0)  # offset, text and table of the paragraph before
    for block in blocks:
        paragraph = join_lines(block.text.split("\n"))
        if not paragraph:
            continue
        if block.heading:
            headings.append((offset, min(max(block.heading, 1), 6)))
        if block.table and block.table not in tables:
            start, caption = offset, block.caption
            if previous[2] == 0 and is_caption(previous[1]) and not caption:
                start, caption = previous[0], previous[1]
            tables[block.table] = [start, offset + len(paragraph), caption]
        elif block.table:
            tables[block.table][1] = offset + len(paragraph)
        paragraphs.append(paragraph)
        previous = (offset, paragraph, block.table)
        offset += len(paragraph) + 1
    return "\n".join(paragraphs), headings, [tuple(t) for t in tables.values()]


def is_caption(line: str) -> bool:
    return len(line) <= CAPTION_MAX_CHARS and bool(CAPTION.match(line))


def extract(suffix: str, raw: bytes, max_bytes: int, ocr=None) -> Extracted:
    """Run the reader for `suffix`; every failure comes out as FormatError.

    `ocr` (an OcrOptions) goes to the readers that may meet pictures of text (PDF, images).
    """
    reader = importlib.import_module(READERS[suffix.lower()])
    try:
        if ocr is not None and suffix.lower() in OCR_SUFFIXES:
            return reader.read(raw, max_bytes, ocr=ocr)
        return reader.read(raw, max_bytes)  # readers that may OCR default to OcrOptions()
    except FormatError:
        raise
    except MemoryError:
        raise FormatError("too large to read in memory") from None
    except RecursionError:
        raise FormatError("nested too deeply to read") from None
    except Exception as exc:  # a library choking on hostile input must not stop the batch
        raise FormatError(f"cannot read this {suffix} file ({type(exc).__name__}: {exc})") from exc
