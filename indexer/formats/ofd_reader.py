"""OFD (GB/T 33190-2016, China's fixed-layout format for e-government documents): text by page, DocInfo.

An OFD file is a zip package: OFD.xml names each document's root (DocRoot) and its
DocInfo (title, creation date); the document's Document.xml lists its pages, each
with a Content.xml whose layers hold TextObjects (a Boundary box, a font size and
TextCode runs placed at X/Y inside the box). Producers differ: some write one
TextObject per line, some one per character, so the text is rebuilt from positions:
runs are grouped into lines by baseline and ordered left to right, lines top to
bottom, then handed to the PDF reader's layout step (wrapped lines rejoined, running
headers and page numbers dropped), so an OFD and a PDF of the same paper read alike.
Template pages (letterhead furniture shared by pages) are not read. No maintained
Python library reads OFD text soundly (the PyPI candidates are conversion scripts
pulling in rendering stacks), so this is a small reader on lxml.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass

from indexer.formats import Extracted, FormatError
from indexer.formats.lines import clean_line, glue
from indexer.formats.pdf_reader import _Line, layout_text

UNPACKED_FACTOR = 10
MAX_MEMBERS = 20_000
MAX_PAGES = 5_000
INDENT_SIZES = 1.5  # a line starting this many font sizes right of the page's text edge is indented
_DATE = re.compile(r"((?:19|20)\d\d)-(\d\d)-(\d\d)")


@dataclass
class _Run:
    x: float
    y: float  # baseline, mm from the page top
    size: float
    text: str


def _package(raw: bytes, max_bytes: int) -> zipfile.ZipFile:
    if not raw.startswith(b"PK"):
        raise FormatError("not an OFD file (not a zip package)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FormatError(f"damaged OFD package ({exc})") from exc
    if len(members) > MAX_MEMBERS:
        raise FormatError(f"OFD package with {len(members)} members; refused as a likely zip bomb")
    total = sum(m.file_size for m in members)
    if total > max_bytes * UNPACKED_FACTOR:
        raise FormatError(f"OFD package would unpack to {total // 2**20} MB; refused as a likely zip bomb")
    if any(m.flag_bits & 0x1 for m in members):
        raise FormatError("encrypted OFD package (zip encryption): cannot be read")
    return archive


def _xml(archive: zipfile.ZipFile, name: str):
    """A member parsed safely (no entities, no network), or FormatError naming it."""
    from lxml import etree

    try:
        data = archive.read(name.lstrip("/"))
    except KeyError:
        raise FormatError(f"damaged OFD package: {name} is missing") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise FormatError(f"damaged OFD package: {name} unreadable ({exc})") from exc
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"damaged OFD package: {name} is not well-formed XML ({exc})") from exc


def _local(element) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element, name: str) -> list:
    return [child for child in element if _local(child) == name]


def _child_text(element, name: str) -> str:
    found = _children(element, name)
    return (found[0].text or "").strip() if found else ""


def _resolve(base_dir: str, loc: str) -> str:
    """A location in the package: absolute ("/Doc_0/…") from the root, else relative to `base_dir`."""
    loc = loc.strip().replace("\\", "/")
    path = loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc)
    return posixpath.normpath(path)


def _numbers(raw: str | None) -> list[float]:
    try:
        return [float(v) for v in (raw or "").split()]
    except ValueError:
        return []


def _runs(content) -> list[_Run]:
    """Every TextCode of every TextObject in a page's content (layers and page blocks included)."""
    runs = []
    for obj in content.iter():
        if _local(obj) != "TextObject":
            continue
        box = _numbers(obj.get("Boundary")) or [0.0, 0.0, 0.0, 0.0]
        size = (_numbers(obj.get("Size")) or [3.5])[0]
        for code in _children(obj, "TextCode"):
            text = code.text or ""
            if not text.strip():
                continue
            x = box[0] + (_numbers(code.get("X")) or [0.0])[0]
            y = box[1] + (_numbers(code.get("Y")) or [size])[0]
            runs.append(_Run(x, y, size, text))
    return runs


def _lines(runs: list[_Run]) -> list[_Line]:
    """Runs grouped into lines by baseline (within half a font size), top to bottom, left to right."""
    rows: list[list[_Run]] = []
    for run in sorted(runs, key=lambda r: (r.y, r.x)):
        if rows and abs(run.y - rows[-1][0].y) <= 0.5 * max(run.size, rows[-1][0].size):
            rows[-1].append(run)
        else:
            rows.append([run])
    if not rows:
        return []
    left = min(min(r.x for r in row) for row in rows)
    out = []
    for row in rows:
        row.sort(key=lambda r: r.x)
        text = ""
        for run in row:
            piece = clean_line(run.text)
            if piece:
                text = glue(text, piece) if text else piece
        if text:
            out.append(_Line(text, row[0].x - left > INDENT_SIZES * row[0].size))
    return out


def _doc_pages(archive: zipfile.ZipFile, root: str) -> list[list[_Line]]:
    document = _xml(archive, root)
    base = posixpath.dirname(root)
    pages_el = _children(document, "Pages")
    pages = [p for p in pages_el[0] if _local(p) == "Page"] if pages_el else []
    if len(pages) > MAX_PAGES:
        raise FormatError(f"OFD document with {len(pages)} pages; refused")
    out = []
    for page in pages:
        loc = page.get("BaseLoc")
        if not loc:
            raise FormatError("damaged OFD package: a page without BaseLoc")
        content = _xml(archive, _resolve(base, loc))
        out.append(_lines(_runs(content)))
    return out


def _date(raw: str) -> str:
    match = _DATE.search(raw or "")
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else ""


def read(raw: bytes, max_bytes: int) -> Extracted:
    archive = _package(raw, max_bytes)
    names = {m.filename for m in archive.infolist()}
    if "OFD.xml" not in names:
        raise FormatError("not an OFD package (no OFD.xml)")
    ofd = _xml(archive, "OFD.xml")
    if any(_local(el) in ("Encryptions", "Encryption") for el in ofd.iter()) or any(
        n.lower().endswith("encryptions.xml") for n in names
    ):
        raise FormatError("encrypted OFD document (GB/T 33190 encryption): cannot be read without its key")
    bodies = _children(ofd, "DocBody")
    if not bodies:
        raise FormatError("damaged OFD package: OFD.xml has no DocBody")
    pages: list[list[_Line]] = []
    for body in bodies:
        root = _child_text(body, "DocRoot")
        if not root:
            raise FormatError("damaged OFD package: DocBody without DocRoot")
        pages.extend(_doc_pages(archive, _resolve("", root)))
    if not any(pages):
        raise FormatError("OFD without text (scanned pages in an OFD are not read)")
    text, starts, _ = layout_text(pages)
    if len(text) > max_bytes:
        raise FormatError(f"more than {max_bytes} characters of text; refused")
    info = (_children(bodies[0], "DocInfo") or [None])[0]
    title = " ".join(_child_text(info, "Title").split()) if info is not None else ""
    created = _date(_child_text(info, "CreationDate")) if info is not None else ""
    return Extracted(text=text, pages=starts, title=title, timestamp=created)
