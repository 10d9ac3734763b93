"""The document view's model: the full text cut into passages, gap lines as headings, an outline.

Pure functions over a Document and its chunks (no Flask), so the rendering rules are
unit-testable: every passage becomes an element with a stable anchor, text between
passages (usually heading lines) is kept, nothing of the document is lost or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from indexer.models import Chunk
from search_app import highlight
from search_app.views import chunk_anchor, ocr_mark


@dataclass
class Segment:
    kind: str  # "chunk" | "heading" | "text"
    html: Markup
    depth: int = 0  # heading level below the title (1 = top level)
    anchor: str = ""
    chunk_id: str = ""
    is_hit: bool = False
    page: int | None = None
    ocr: str = ""  # "识别文本" on a passage read by OCR from a scanned page
    ocr_title: str = ""


@dataclass
class OutlineEntry:
    label: str
    depth: int
    anchor: str  # the first passage under this heading path
    is_current: bool = False


def outline(chunks: list[Chunk], hit_chunk_id: str | None = None) -> list[OutlineEntry]:
    """Distinct heading paths (and their parents) in reading order, each linking to its first passage."""
    entries: list[OutlineEntry] = []
    index: dict[tuple[str, ...], OutlineEntry] = {}
    for chunk in chunks:
        path = tuple(h for h in chunk.heading_path if h)
        for depth in range(1, len(path) + 1):
            key = path[:depth]
            if key not in index:
                index[key] = OutlineEntry(label=key[-1], depth=depth, anchor=chunk_anchor(chunk.chunk_id))
                entries.append(index[key])
        if chunk.chunk_id == hit_chunk_id and path:
            index[path].is_current = True
    return entries


def _gap_segments(gap: str, next_path: list[str]) -> list[Segment]:
    """Text between two passages: a line that is a heading of the next passage becomes a heading."""
    depth_of = {h.strip(): i + 1 for i, h in enumerate(next_path) if h.strip()}
    out = []
    for line in gap.split("\n"):
        line = line.strip()
        if not line:
            continue
        if line in depth_of:
            out.append(Segment("heading", escape(line), depth=depth_of[line]))
        else:
            out.append(Segment("text", escape(line)))
    return out


def segments(
    text: str, chunks: list[Chunk], hit_chunk_id: str | None, terms: tuple[str, ...], meta: dict | None = None
) -> list[Segment]:
    """The document in reading order: passages (anchored, OCR'd ones marked) and the lines between them."""
    out: list[Segment] = []
    pos = 0
    for chunk in sorted(chunks, key=lambda c: (c.start, c.ordinal)):
        start = max(chunk.start, 0)
        if start > pos:
            out.extend(_gap_segments(text[pos:start], chunk.heading_path))
        body = chunk.text
        if chunk.start < pos < chunk.end and text[chunk.start : chunk.end] == chunk.text:
            body = text[pos : chunk.end]  # overlapping passages: show the overlap once
        is_hit = chunk.chunk_id == hit_chunk_id
        html = highlight.highlight(body, terms) if is_hit and terms else escape(body)
        ocr, ocr_title = ocr_mark(meta or {}, chunk.page)
        out.append(
            Segment(
                "chunk",
                Markup(html),
                anchor=chunk_anchor(chunk.chunk_id),
                chunk_id=chunk.chunk_id,
                is_hit=is_hit,
                page=chunk.page,
                ocr=ocr,
                ocr_title=ocr_title,
            )
        )
        pos = max(pos, chunk.end)
    if pos < len(text):
        out.extend(_gap_segments(text[pos:], []))
    return out


def display_source(source: object) -> str:
    """A source label, or just the file name when it is a server path (never show server folders)."""
    s = str(source or "").strip()
    if "://" not in s and ("/" in s or "\\" in s):
        return s.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return s
