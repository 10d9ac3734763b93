"""Test files made on the spot: Word documents, PDFs (with a CJK font), zip bombs, scans.

Nothing binary is checked in: every .docx/.pdf a test reads is written here by
python-docx or fpdf2 from text in the test, so a reader can be checked against
exactly what went in.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")  # Debian fonts-wqy-microhei (make browser)

needs_cjk_font = pytest.mark.skipif(
    not CJK_FONT.is_file(), reason=f"CJK font {CJK_FONT} missing: apt-get install fonts-wqy-microhei"
)


# --- Word ------------------------------------------------------------------------------------


def make_docx(path: Path, build: Callable, title: str | None = None, category: str | None = None) -> Path:
    """A .docx written by python-docx; `build(document)` adds the content."""
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    if category is not None:
        document.core_properties.category = category
    build(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def paragraph_style(document, name: str, outline_level: int | None = None):
    """A custom paragraph style, such as WPS's "标题 1" or an agency's own heading style with an outline level."""
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    if outline_level is not None:
        level = OxmlElement("w:outlineLvl")
        level.set(qn("w:val"), str(outline_level))
        style.element.get_or_add_pPr().append(level)
    return style


# --- PDF ---------------------------------------------------------------------------------------


def make_pdf(
    path: Path,
    pages: list[list[str]],
    running_header: str | None = None,
    page_numbers: str | None = "- {n} -",
    title: str | None = None,
    password: str | None = None,
) -> Path:
    """A PDF with exactly these lines on these pages (one cell per line, so the wrapping is ours).

    `running_header` is printed at the top of every page and `page_numbers` (with {n})
    at the bottom, as a real report's header and footer would be.
    """
    from fpdf import FPDF

    class _Pdf(FPDF):
        def header(self) -> None:
            if running_header:
                self.set_font("cjk", size=9)
                self.cell(0, 6, running_header, align="C", new_x="LMARGIN", new_y="NEXT")
                self.ln(4)

        def footer(self) -> None:
            if page_numbers:
                self.set_y(-15)
                self.set_font("cjk", size=9)
                self.cell(0, 10, page_numbers.format(n=self.page_no()), align="C")

    pdf = _Pdf()
    pdf.add_font("cjk", fname=str(CJK_FONT))
    pdf.set_auto_page_break(False)
    if title:
        pdf.set_title(title)
    for lines in pages:
        pdf.add_page()
        pdf.set_font("cjk", size=11)
        for line in lines:
            pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return _save_pdf(pdf, path, password)


def _save_pdf(pdf, path: Path, password: str | None) -> Path:
    """Encrypt when asked (the owner password is fixed), then write."""
    if password is not None:
        pdf.set_encryption(owner_password="owner-secret", user_password=password)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def make_latin_pdf(path: Path, lines: list[str], password: str | None = None) -> Path:
    """A PDF in a core font, which needs no font file: for tests about damage and encryption."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    for line in lines:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    return _save_pdf(pdf, path, password)


def make_scanned_pdf(path: Path) -> Path:
    """A PDF whose only page is a picture: what a scanner without OCR produces."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("L", (400, 200), 255)
    ImageDraw.Draw(image).rectangle((40, 40, 360, 160), outline=0, width=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(buffer.getvalue()), x=10, y=10, w=150)
    pdf.output(str(path))
    return path


def wrap(text: str, width: int) -> list[str]:
    """Hard-wrap text into lines of `width` characters, as a PDF's layout would."""
    return [text[i : i + width] for i in range(0, len(text), width)]


def make_entity_bomb_docx(path: Path) -> Path:
    """A .docx whose document.xml expands one entity reference into a billion characters ("billion laughs")."""
    import zipfile

    source = make_docx(path, lambda d: d.add_paragraph("PLACEHOLDER"))
    entities = '<!ENTITY lol0 "哈哈哈哈哈哈哈哈哈哈">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    )
    members = {}
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            members[info] = archive.read(info.filename)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members.items():
            if info.filename == "word/document.xml":
                head, rest = data.decode().split("?>", 1)
                data = f"{head}?><!DOCTYPE lolz [{entities}]>{rest.replace('PLACEHOLDER', '&lol9;')}".encode()
            archive.writestr(info, data)
    return path


# --- zip bombs -----------------------------------------------------------------------------------


def _deflated_zeros(mib: int) -> tuple[bytes, int]:
    """Raw deflate data for `mib` MiB of zero bytes, and its CRC, without compressing them all.

    One MiB is compressed and flushed with Z_FULL_FLUSH (byte-aligned, no back
    references), so the same bytes repeated are a valid stream of many MiB.
    """
    chunk = b"\0" * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return block * mib + tail, crc


def make_zip_bomb(path: Path, mib: int = 1024) -> Path:
    """A "Word document" whose word/document.xml inflates to `mib` MiB of zeros from about mib KB on disk."""
    content_types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        b'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
    )
    members = [
        ("[Content_Types].xml", zlib.compress(content_types)[2:-4], zlib.crc32(content_types), len(content_types)),
        ("word/document.xml", *_deflated_zeros(mib), mib * 2**20),
    ]
    out, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        fields = (20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0, 0, offset)
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", *fields)
        central += encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out + central + end))
    return path
