"""Word .docx: paragraphs and tables in document order, heading levels from styles, core properties.

A .docx is a zip archive, and a zip can declare members that expand to gigabytes
(a "zip bomb"); python-docx would inflate every part into memory. So the zip's
directory is checked first, and only an archive whose declared sizes are sane is
handed to python-docx (zipfile itself stops reading a member at its declared size).
"""

from __future__ import annotations

import io
import re
import zipfile

from indexer.formats import Block, Extracted, FormatError, assemble_tables
from indexer.metadata import kind_of

UNPACKED_FACTOR = 10  # total unpacked size may be this many times the file size limit
MAX_MEMBERS = 10_000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary .doc
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_TITLE_STYLES = {"title", "标题"}
# python-docx's own template carries this creation time: it says nothing about the document.
_TEMPLATE_CREATED = "2013-12-23"
_CELL_SEPARATOR = " | "


def check_archive(raw: bytes, max_bytes: int) -> None:
    """Refuse what is not a zip, or a zip whose members would unpack to more than the limit."""
    if raw.startswith(_OLE_MAGIC):
        raise FormatError("old binary Word .doc format, not .docx: save it as .docx")
    if not raw.startswith(b"PK"):
        raise FormatError("not a Word .docx file (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FormatError(f"not a Word .docx file (damaged zip archive: {exc})") from exc
    if len(members) > MAX_MEMBERS:
        raise FormatError(f"zip archive with {len(members)} members; refused as a likely zip bomb")
    limit = max_bytes * UNPACKED_FACTOR
    total = sum(m.file_size for m in members)
    if total > limit:
        biggest = max(members, key=lambda m: m.file_size)
        raise FormatError(
            f"zip archive would unpack to {total // 2**20} MB (limit {limit // 2**20} MB; "
            f"{biggest.filename} alone {biggest.file_size // 2**20} MB); refused as a likely zip bomb"
        )
    if "word/document.xml" not in {m.filename for m in members}:
        raise FormatError("zip archive without word/document.xml: not a Word .docx document")


def heading_level(paragraph) -> int:
    """1..9 for a heading (style name "Heading 2"/"标题 2", or an outline level); 0 for body text."""
    style = paragraph.style
    while style is not None:
        match = _HEADING_STYLE.match((style.name or "").strip())
        if match:
            return int(match.group(1))
        outline = style.element.xpath("./w:pPr/w:outlineLvl/@w:val")
        if outline and outline[0].isdigit() and int(outline[0]) < 9:
            return int(outline[0]) + 1
        style = style.base_style
    own = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if own and own[0].isdigit() and int(own[0]) < 9:
        return int(own[0]) + 1
    return 0


def _is_title(paragraph) -> bool:
    return (paragraph.style.name or "").strip().lower() in _TITLE_STYLES


def _table_blocks(table, number: int) -> list[Block]:
    """One block per row, cells separated; a merged cell is reported once."""
    blocks = []
    for row in table.rows:
        seen, cells = set(), []
        for cell in row.cells:
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            text = " ".join(line.strip() for line in cell.text.split("\n") if line.strip())
            if text:
                cells.append(text)
        if cells:
            blocks.append(Block(_CELL_SEPARATOR.join(cells), table=number))
    return blocks


def title_heading(blocks: list[Block]) -> str:
    """The first heading when it is the only one at its level or above: a title, not a section."""
    levels = [b.heading for b in blocks if b.heading]
    if not levels or levels.count(levels[0]) > 1 or min(levels) < levels[0]:
        return ""
    return next(b.text.strip() for b in blocks if b.heading)


def read(raw: bytes, max_bytes: int) -> Extracted:
    check_archive(raw, max_bytes)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as exc:  # python-docx raises KeyError, ValueError, PackageNotFoundError ...
        raise FormatError(f"not a readable Word .docx document ({type(exc).__name__}: {exc})") from exc
    blocks: list[Block] = []
    tables: list = []
    title_line = ""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(_table_blocks(item, sum(isinstance(i, Table) for i in tables) + 1))
            tables.append(item)
            continue
        text = item.text
        if not text.strip():
            continue
        if _is_title(item):
            title_line = title_line or text.strip()
            blocks.append(Block(text))
        else:
            blocks.append(Block(text, heading=heading_level(item)))
    text, headings, spans = assemble_tables(blocks)
    props = document.core_properties
    title = (props.title or "").strip() or title_line or title_heading(blocks)
    created = props.created.date().isoformat() if props.created else ""
    kind = kind_of(props.category or "")
    meta = {"type": kind} if kind else {}
    return Extracted(
        text=text,
        headings=headings,
        tables=spans,
        title=" ".join(title.split()),
        meta=meta,
        timestamp="" if created == _TEMPLATE_CREATED else created,
    )
