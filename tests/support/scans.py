"""Scanned inputs for the OCR tests: corpus text rendered as pictures, mixed PDFs (the character error rate is
indexer.tools.scans.cer)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from indexer.formats.ocr import missing_reason
from indexer.tools.scans import CJK_FONT, Scan, layout, render_page

CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus" / "cpc-congress-reports"
REPORT_18 = CORPUS / "坚定不移沿着中国特色社会主义道路前进 为全面建成小康社会而奋斗 (十八大).txt"

needs_tesseract = pytest.mark.skipif(
    bool(missing_reason()) or not CJK_FONT.is_file(), reason=missing_reason() or "CJK font missing (make browser)"
)


def corpus_paragraphs(path: Path = REPORT_18, skip: int = 5) -> list[str]:
    """Body paragraphs of a real corpus document (its title block skipped)."""
    return [p for p in path.read_text(encoding="utf-8").split("\n") if p.strip()][skip:]


def scanned_page(paragraphs: list[str], scan: Scan, lines: int | None = None, number: int = 1):
    """Page `number`'s picture, cut to its first `lines` lines; and those lines."""
    page = layout(paragraphs, scan)[0][:lines]
    return render_page(page, number, scan), page


def make_mixed_pdf(path: Path, text_lines: list[str], picture) -> Path:
    """Page 1 has a text layer (fpdf2 with the CJK font); page 2 is only `picture`, as a scanner writes it."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("cjk", fname=str(CJK_FONT))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("cjk", size=11)
    for line in text_lines:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.add_page()
    buffer = io.BytesIO()
    picture.convert("L").save(buffer, format="PNG")
    pdf.image(io.BytesIO(buffer.getvalue()), x=0, y=0, w=pdf.w, h=pdf.h)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path




def two_column_page(paragraphs: list[str], scan: Scan, lines_per_column: int, gap_chars: float = 3.0):
    """A page printed in two columns (left column first, then right), as a gazette or a 公报 is; the picture and
    each column's lines. The text runs on from the bottom of the left column to the top of the right one."""
    from PIL import Image, ImageDraw

    from indexer.tools.scans import A4_INCHES, MARGIN_INCHES, _font, wrap

    font = _font(scan)
    page_width = (A4_INCHES[0] - 2 * MARGIN_INCHES) * scan.dpi
    column_width = (page_width - gap_chars * font.size) / 2
    lines: list[str] = []
    for paragraph in paragraphs:
        lines += wrap(paragraph, font, column_width)
        if len(lines) >= 2 * lines_per_column:
            break
    columns = [lines[:lines_per_column], lines[lines_per_column : 2 * lines_per_column]]
    height = int(2 * MARGIN_INCHES * scan.dpi + lines_per_column * font.size * 1.6)
    image = Image.new("L", (int(A4_INCHES[0] * scan.dpi), height), 255)
    draw = ImageDraw.Draw(image)
    for n, column in enumerate(columns):
        x = MARGIN_INCHES * scan.dpi + n * (column_width + gap_chars * font.size)
        for i, line in enumerate(column):
            draw.text((x, MARGIN_INCHES * scan.dpi + i * font.size * 1.6), line, font=font, fill=0)
    if scan.rotate:
        image = image.rotate(scan.rotate, resample=Image.BICUBIC, expand=False, fillcolor=255)
    return image, columns
