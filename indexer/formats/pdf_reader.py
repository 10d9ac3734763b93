"""PDF: the text layer page by page, wrapped lines rejoined, running headers and page numbers dropped.

A PDF knows lines, not paragraphs. A line that reaches the right margin was
wrapped and joins the next one (without a space between Chinese characters, and
"inter-" + "national" rejoined); a short line, a sentence end before the margin,
an indented line or a heading marker ends a paragraph. Where each page starts
in the joined text is kept, so every chunk can say on which page it begins.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass

from indexer.formats import Extracted, FormatError, is_caption
from indexer.formats.lines import CJK, HEADING_LIKE, clean_line, glue
from indexer.formats.ocr import OcrOptions, OcrPage, confidences, read_pages
from indexer.sentences import CLOSING, LINE_END

SHORT_LINE = 0.8  # a line under this share of the full width ends its paragraph
SENTENCE_LINE = 0.95  # ... and under this share when it ends a sentence
PERCENTILE_FROM = 20  # lines; below that one long outlier is unlikely and the widest line is the full width
FURNITURE_LINES = 2  # lines at the top and at the bottom of a page that may be a header or footer
_SENTENCE_END = LINE_END + CLOSING.replace("》", "")  # a closing quote ends a sentence here, a title's 》 not
_PAGE_NUMBER = re.compile(
    r"^(?:[-–—－·•\s]*\d{1,4}[-–—－·•\s]*"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，/／]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*[/／]\s*\d{1,4}"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?)$",
    re.IGNORECASE,
)
_CJK_ALL = CJK + r"\u3000-\u303f\uff00-\uffef"
_SPACED = re.compile(rf"(?<=[{_CJK_ALL}]) (?=[{_CJK_ALL}])")
_CJK_PAIR = re.compile(rf"[{_CJK_ALL}] ?(?=[{_CJK_ALL}])")
_JUNK_TITLE = re.compile(r"^(untitled|无标题|document\d*|文档\d*)$", re.IGNORECASE)
MIN_RULES = 6  # rectangles or strokes on a page before pdfplumber looks for a ruled table there
MAX_RULE_SCAN = 2_000_000  # bytes of a page's content stream scanned for them
_RULE_OPS = re.compile(rb"(?<![A-Za-z])(?:re|l)(?![A-Za-z])")
USABLE_CHARS = 20  # a page with fewer readable characters than this (page number aside) has no usable text layer
USABLE_SHARE = 0.5  # ... or with a smaller share of CJK/letters/digits/punctuation (a font without a ToUnicode map)
_READABLE = re.compile(rf"[{CJK}A-Za-z0-9\u3000-\u303f\uff01-\uff5e，。、；：？！“”‘’《》（）\s.,;:?!()\-]")


@dataclass
class _Line:
    text: str
    indented: bool = False
    table: int = 0  # a row of ruled table number `table` (cells joined by " | "); 0 = running text
    reach: float = 0.0  # OCR: where the line ends in its column, measured in pixels (1.0 = the right margin)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _unspace(line: str) -> str:
    """Letter-spaced Chinese ("国 内 生 产") loses its spaces; a single spaced name stays as it is."""
    gaps = len(_SPACED.findall(line))
    if gaps >= 3 and gaps >= 0.5 * len(_CJK_PAIR.findall(line)):
        return _SPACED.sub("", line)
    return line


def _open(raw: bytes):
    if b"%PDF-" not in raw[:1024]:
        raise FormatError("not a PDF file (no %PDF- header)")
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(raw), strict=False)
    except Exception as exc:  # pypdf raises PdfReadError, PdfStreamError, ValueError ... on damage
        raise FormatError(f"corrupt PDF ({type(exc).__name__}: {exc})") from exc
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")  # many PDFs are encrypted with an empty password, only to restrict editing
        except Exception as exc:
            raise FormatError(f"encrypted PDF that cannot be opened ({exc})") from exc
        if not opened:
            raise FormatError("encrypted PDF: a password is needed to open it")
    return reader


def _page_lines(reader, max_chars: int) -> list[list[_Line]]:
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise FormatError(f"corrupt PDF: page tree unreadable ({type(exc).__name__}: {exc})") from exc
    out: list[list[_Line]] = []
    failed = total = 0
    for page in pages:
        try:
            text = page.extract_text() or ""
        except Exception:  # one damaged page does not lose the others
            failed += 1
            text = ""
        total += len(text)
        if total > max_chars:
            raise FormatError(f"more than {max_chars} characters of text; refused")
        lines = []
        for raw_line in text.split("\n"):
            cleaned = _unspace(clean_line(raw_line))
            lines.append(_Line(cleaned, raw_line[:1] in (" ", "\u3000", "\t") and bool(cleaned)))
        out.append(lines)
    if pages and failed == len(pages):
        raise FormatError("corrupt PDF: no page could be read")
    return out


def _edges(page: list[_Line]) -> list[int]:
    filled = [i for i, line in enumerate(page) if line.text]
    return sorted(set(filled[:FURNITURE_LINES] + filled[-FURNITURE_LINES:]))


def _drop_furniture(pages: list[list[_Line]]) -> list[list[_Line]]:
    """Drop bare page numbers and running headers/footers from the top and bottom lines of pages.

    A running header is a line (digits aside) found at the edge of most pages,
    such as the document's title or "国务院公报 2024年第3号".
    """

    def key(text: str) -> str:
        return re.sub(r"\d+", "#", text)

    counts: dict[str, int] = {}
    for page in pages:
        for k in {key(page[i].text) for i in _edges(page)}:
            counts[k] = counts.get(k, 0) + 1
    needed = max(3, math.ceil(len(pages) / 2))
    running = {k for k, n in counts.items() if len(pages) >= 3 and n >= needed}
    cleaned = []
    for page in pages:
        drop = {i for i in _edges(page) if _PAGE_NUMBER.match(page[i].text) or key(page[i].text) in running}
        cleaned.append([line for i, line in enumerate(page) if i not in drop])
    return cleaned


def _full_width(pages: list[list[_Line]]) -> int:
    """The width of a full line: the widest line of a short text, a high percentile of a long one's."""
    widths = sorted(_width(line.text) for page in pages for line in page if line.text and not line.reach)
    if len(widths) < PERCENTILE_FROM:
        return widths[-1] if widths else 0
    return widths[int(0.9 * (len(widths) - 1))]


def _ends_paragraph(prev: _Line, nxt: _Line, full: int) -> bool:
    if nxt.indented or HEADING_LIKE.match(nxt.text) or is_caption(nxt.text) or is_caption(prev.text):
        return True
    share = prev.reach or _width(prev.text) / max(full, 1)
    if share < SHORT_LINE:
        return True
    return prev.text[-1] in _SENTENCE_END and share < SENTENCE_LINE


def _join(prev: str, nxt: str) -> str:
    """A wrapped line joined to the one before: "inter-" + "national" -> "international"."""
    if re.search(r"[A-Za-z]{2}-$", prev) and nxt[0].islower():
        return prev[:-1] + nxt
    return glue(prev, nxt)


def _paragraphs(pages: list[list[_Line]]) -> tuple[str, list[int], list[tuple[int, int, str]]]:
    """Document text, the offset at which each page's text starts, and table spans (each row a paragraph)."""
    full = _full_width(pages)
    paragraphs: list[str] = []
    page_start: dict[int, int] = {}
    current, para_offset = "", 0
    rows: list[int] = []  # table number of each paragraph (0 = running text)
    prev: _Line | None = None
    for number, page in enumerate(pages, 1):
        blank = False
        for line in page:
            if not line.text:
                blank = True
                continue
            breaks = blank or line.table or prev is not None and (prev.table or _ends_paragraph(prev, line, full))
            if current and prev is not None and breaks:
                paragraphs.append(current)
                rows.append(prev.table)
                para_offset += len(current) + 1
                current = ""
            current = _join(current, line.text) if current else line.text
            page_start.setdefault(number, para_offset + len(current) - len(line.text))
            prev, blank = line, False
    if current and prev is not None:
        paragraphs.append(current)
        rows.append(prev.table)
    text = "\n".join(paragraphs)
    starts, following = [], len(text)
    for number in range(len(pages), 0, -1):
        following = page_start.get(number, following)
        starts.append(following)
    return text, starts[::-1], _table_spans(paragraphs, rows)


def _table_spans(paragraphs: list[str], rows: list[int]) -> list[tuple[int, int, str]]:
    """(start, end, caption) of each table's rows; a caption paragraph just before them is included."""
    spans: dict[int, list] = {}
    offset = 0
    for i, (paragraph, table) in enumerate(zip(paragraphs, rows)):
        if table and table not in spans:
            before = paragraphs[i - 1] if i and not rows[i - 1] else ""
            caption = before if is_caption(before) else ""
            spans[table] = [offset - len(before) - 1 if caption else offset, offset + len(paragraph), caption]
        elif table:
            spans[table][1] = offset + len(paragraph)
        offset += len(paragraph) + 1
    return [tuple(span) for span in spans.values()]


def layout_text(pages: list[list[_Line]]) -> tuple[str, list[int], list[tuple[int, int, str]]]:
    """Lines of pages (a text layer's or OCR's) to paragraphs, furniture dropped; page starts; table spans."""
    text, starts, tables = _paragraphs(_drop_furniture(pages))
    if not text:
        raise FormatError("no text besides page numbers and running headers")
    return text, starts, tables


def _title(reader) -> str:
    """The PDF's own title, unless it is a converter's leftover ("Microsoft Word - 文档1.docx")."""
    try:
        title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        return ""
    title = re.sub(r"^Microsoft (Word|PowerPoint) - ", "", " ".join(str(title).split()))
    title = re.sub(r"\.(docx?|wps|pdf|txt)$", "", title, flags=re.IGNORECASE).strip()
    if _JUNK_TITLE.match(title) or not re.search(rf"[{CJK}]|[A-Za-z]{{3}}", title):
        return ""
    return title


def _timestamp(reader) -> str:
    try:
        created = reader.metadata.creation_date if reader.metadata else None
    except Exception:
        return ""
    return created.date().isoformat() if created else ""


def _usable(page: list[_Line]) -> bool:
    """Does the text layer hold the page's text, not just a page number or glyph garbage?"""
    text = "".join(line.text for line in page if not _PAGE_NUMBER.match(line.text))
    if len(text) < USABLE_CHARS:
        return False
    return len(_READABLE.findall(text)) >= USABLE_SHARE * len(text)


def _has_images(page) -> bool:
    try:
        objects = page["/Resources"].get_object().get("/XObject")
        objects = objects.get_object() if objects is not None else {}
        return any(objects[name].get_object().get("/Subtype") == "/Image" for name in objects)
    except Exception:  # an odd resource dictionary: let OCR look at the page
        return True


def _ocr(raw: bytes, reader, pages: list[list[_Line]], ocr: OcrOptions) -> tuple[dict[int, OcrPage], list[str]]:
    """OCR the pages without a usable text layer that carry a picture; their OcrPage by page index."""
    todo = [i for i, page in enumerate(pages) if not _usable(page) and _has_images(reader.pages[i])]
    if not todo:
        return {}, []
    import threading

    import pypdfium2

    document = pypdfium2.PdfDocument(raw)
    lock = threading.Lock()  # PDFium is not thread-safe: pages render one at a time, OCR runs in parallel

    def render(n: int):
        with lock:
            return document[todo[n]].render(scale=ocr.dpi / 72, grayscale=True).to_pil()

    try:
        read = read_pages(len(todo), render, ocr, label=f"{len(todo)} scanned page(s)")
    finally:
        document.close()
    failed = [i for i, page in zip(todo, read) if page.error]
    notes = []
    if failed:
        numbers = ", ".join(str(i + 1) for i in failed)
        notes.append(f"page(s) {numbers} skipped: {read[todo.index(failed[0])].error}")
    return {i: page for i, page in zip(todo, read) if not page.error}, notes


def _may_have_rules(page) -> bool:
    """Cheap look at the content stream: enough rectangles or line strokes for a ruled table."""
    try:
        data = page.get_contents().get_data() if page.get_contents() is not None else b""
    except Exception:
        return False
    return len(_RULE_OPS.findall(data[:MAX_RULE_SCAN])) >= MIN_RULES


def _cell(value: object) -> str:
    return " ".join(str(value or "").split())


def _plumbed_page(page, first_table: int) -> tuple[list[_Line], int]:
    """A page with ruled tables as pdfplumber reads it: text bands between tables, each row one line."""
    found = sorted(page.find_tables(), key=lambda t: t.bbox[1])
    if not found:
        return [], 0
    lines: list[_Line] = []
    top, number = 0.0, first_table
    bands = [(t.bbox[1], t.bbox[3], t) for t in found] + [(page.height, page.height, None)]
    for table_top, table_bottom, table in bands:
        if table_top > top:
            band = page.crop((0, top, page.width, min(table_top, page.height)), strict=False)
            words = band.extract_text_lines()
            left = min((w["x0"] for w in words), default=0.0)
            for w in words:
                size = (w["bottom"] - w["top"]) or 10.0
                lines.append(_Line(_unspace(clean_line(w["text"])), w["x0"] - left > 1.5 * size))
        if table is not None:
            number += 1
            for row in table.extract():
                cells = [_cell(c) for c in row]
                if any(cells):
                    lines.append(_Line(" | ".join(c for c in cells if c), table=number))
        top = max(top, table_bottom)
    return lines, number - first_table


def _ruled_tables(raw: bytes, reader, pages: list[list[_Line]]) -> None:
    """Pages whose content may hold ruled tables are re-read by pdfplumber, tables as rows (in place)."""
    candidates = [i for i, page in enumerate(reader.pages) if _usable(pages[i]) and _may_have_rules(page)]
    if not candidates:
        return
    import pdfplumber

    tables = 0
    try:
        with pdfplumber.open(io.BytesIO(raw), pages=[i + 1 for i in candidates]) as pdf:
            for i, page in zip(candidates, pdf.pages):
                lines, found = _plumbed_page(page, tables)
                if found:
                    pages[i], tables = lines, tables + found
    except Exception:  # pdfminer choking on a page: keep pypdf's text, tables as plain lines
        return


def read(raw: bytes, max_bytes: int, ocr: OcrOptions | None = None) -> Extracted:
    reader = _open(raw)
    pages = _page_lines(reader, max_chars=max_bytes)
    if not pages:
        raise FormatError("PDF without pages")
    _ruled_tables(raw, reader, pages)
    scanned, notes = _ocr(raw, reader, pages, ocr or OcrOptions())
    for i, page in scanned.items():
        pages[i] = [_Line(line.text, line.indented, reach=line.reach) for line in page.lines]
    if not any(line.text for page in pages for line in page):
        reason = notes[0].split(": ", 1)[-1] if notes else ("OCR found no text" if scanned else "no picture")
        raise FormatError(f"no text layer (scanned PDF?) and no page could be read: {reason}")
    text, starts, tables = layout_text(pages)
    ocr_pages = confidences((i + 1, page) for i, page in scanned.items())
    return Extracted(
        text=text,
        pages=starts,
        tables=tables,
        title=_title(reader),
        timestamp=_timestamp(reader),
        ocr_pages=ocr_pages,
        notes=notes,
    )
