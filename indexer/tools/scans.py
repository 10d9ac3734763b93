"""Scanned copies of text documents: pages rendered as pictures, slightly rotated and speckled.

Used by the OCR tests and by the scan eval (python -m indexer.tools.scan_eval):
a page laid out like a printed report (A4, 2-character paragraph indent, page
number at the bottom), rendered at a given dpi with Debian's WenQuanYi font, then
turned by a small angle and sprinkled with dark and light specks as a scanner
leaves them. Saved as an image-only PDF or a multi-page TIFF: no text layer.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4_INCHES = (8.27, 11.69)
MARGIN_INCHES = 1.0


@dataclass(frozen=True)
class Scan:
    """How a page is printed and scanned."""

    dpi: int = 200
    font_pt: float = 12.0
    rotate: float = 0.0  # degrees, counter-clockwise
    noise: float = 0.0  # share of pixels flipped to a random grey (0.002 = light speckle)
    seed: int = 0
    page_numbers: bool = True


def _font(scan: Scan):
    from PIL import ImageFont

    return ImageFont.truetype(str(CJK_FONT), int(scan.font_pt / 72 * scan.dpi))


def layout(paragraphs: list[str], scan: Scan) -> list[list[str]]:
    """Paragraphs wrapped into the lines of A4 pages (each paragraph indented by two ideographic spaces)."""
    font = _font(scan)
    width = (A4_INCHES[0] - 2 * MARGIN_INCHES) * scan.dpi
    line_height = font.size * 1.6
    per_page = int((A4_INCHES[1] - 2 * MARGIN_INCHES) * scan.dpi // line_height) - 1
    lines = [line for paragraph in paragraphs for line in wrap(paragraph, font, width)]
    return [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]


def wrap(paragraph: str, font, width: float) -> list[str]:
    """One paragraph as printed lines at most `width` pixels wide, indented by two ideographic spaces."""
    lines, line = [], "\u3000\u3000"
    for ch in paragraph.strip():
        if font.getlength(line + ch) > width:
            lines.append(line)
            line = ""
        line += ch
    lines.append(line)
    return lines


def render_page(lines: list[str], number: int, scan: Scan):
    """One page as a greyscale PIL image, rotated and speckled as `scan` says."""
    from PIL import Image, ImageDraw

    size = (int(A4_INCHES[0] * scan.dpi), int(A4_INCHES[1] * scan.dpi))
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = _font(scan)
    x = y = MARGIN_INCHES * scan.dpi
    for line in lines:
        draw.text((x, y), line, font=font, fill=0)
        y += font.size * 1.6
    if scan.page_numbers:
        draw.text((size[0] / 2, size[1] - 0.7 * scan.dpi), f"- {number} -", font=font, fill=0, anchor="mm")
    if scan.rotate:
        image = image.rotate(scan.rotate, resample=Image.BICUBIC, expand=False, fillcolor=255)
    return _speckle(image, scan) if scan.noise else image


def _speckle(image, scan: Scan):
    rng = random.Random(scan.seed)
    pixels = image.load()
    width, height = image.size
    for _ in range(int(scan.noise * width * height)):
        pixels[rng.randrange(width), rng.randrange(height)] = rng.choice((0, 64, 128, 200))
    return image


def render(paragraphs: list[str], scan: Scan, max_pages: int | None = None) -> list:
    pages = layout(paragraphs, scan)[:max_pages]
    return [render_page(lines, n, scan) for n, lines in enumerate(pages, 1)]


def save_pdf(images: list, path: Path, dpi: int) -> Path:
    """An image-only PDF, one picture per page, as a scanner without OCR writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = [im.convert("RGB") for im in images]
    first.save(path, format="PDF", save_all=True, append_images=rest, resolution=float(dpi))
    return path


def save_tiff(images: list, path: Path, dpi: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    first, *rest = images
    first.save(path, format="TIFF", save_all=True, append_images=rest, dpi=(dpi, dpi), compression="tiff_deflate")
    return path


def page_text(lines: list[str]) -> str:
    """What a perfect reader gets from a page's lines: the characters, without layout spaces."""
    return "".join(line.replace("\u3000", "") for line in lines)


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(expected: str, got: str) -> float:
    """Character error rate with whitespace ignored (layout, not content): what OCR got wrong of the page."""
    want, have = re.sub(r"\s", "", expected), re.sub(r"\s", "", got)
    return _edit_distance(want, have) / max(len(want), 1)
