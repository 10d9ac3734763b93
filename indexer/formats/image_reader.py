"""Pictures of pages (.png, .jpg, .tif with one or many pages) read by OCR, one page per frame.

The lines Tesseract finds go through the PDF reader's layout step, so running
headers, page numbers and wrapped lines are treated exactly as in a scanned PDF.
"""

from __future__ import annotations

import dataclasses
import io

from indexer.formats import Extracted, FormatError
from indexer.formats.ocr import OcrOptions, confidences, missing_reason, read_pages
from indexer.formats.pdf_reader import _Line, layout_text

MAX_PAGES = 500  # frames of one TIFF; a fax archive of more is better split
MAX_PIXELS = 120_000_000  # one frame; an A3 page at 600 dpi is ~70 million


def _frames(raw: bytes) -> list:
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(raw))
    except (UnidentifiedImageError, OSError) as exc:
        raise FormatError(f"not a readable image ({exc})") from exc
    frames = []
    for frame in ImageSequence.Iterator(image):
        if frame.width * frame.height > MAX_PIXELS:
            raise FormatError(f"image of {frame.width}x{frame.height} pixels is too large to read")
        frames.append(frame.copy())
        if len(frames) > MAX_PAGES:
            raise FormatError(f"more than {MAX_PAGES} pages in one image file")
    return frames


def read(raw: bytes, max_bytes: int, ocr: OcrOptions | None = None) -> Extracted:
    options = ocr or OcrOptions()
    reason = missing_reason(options.langs) if options.enabled else "OCR is switched off"
    if reason:
        raise FormatError(f"image not read: {reason}")
    frames = _frames(raw)
    dpi = frames[0].info.get("dpi", (0, 0))[0] if frames else 0
    if dpi and 70 <= dpi <= 1200:
        options = dataclasses.replace(options, dpi=int(dpi))
    read_ = read_pages(len(frames), lambda i: frames[i], options, label=f"{len(frames)} image page(s)")
    pages = [[_Line(line.text, line.indented, reach=line.reach) for line in page.lines] for page in read_]
    if not any(pages):
        errors = [page.error for page in read_ if page.error]
        raise FormatError(f"no text found in the image{': ' + errors[0] if errors else ''}")
    text, starts, _ = layout_text(pages)
    if len(text) > max_bytes:
        raise FormatError(f"more than {max_bytes} characters of text; refused")
    failed = [str(n) for n, page in enumerate(read_, 1) if page.error]
    notes = [f"page(s) {', '.join(failed)} skipped: {read_[int(failed[0]) - 1].error}"] if failed else []
    ocr_pages = confidences(enumerate(read_, 1))
    return Extracted(text=text, pages=starts, ocr_pages=ocr_pages, notes=notes)
