"""A two-column scanned page comes out column by column (reading order), not interleaved line by line."""

from __future__ import annotations

import re

import pytest

from indexer.documents import load_document
from indexer.formats.lines import CJK
from indexer.formats.ocr import OcrOptions
from indexer.tools.scans import Scan, cer, page_text
from tests.support.scans import corpus_paragraphs, needs_tesseract, two_column_page

pytestmark = [pytest.mark.slow, needs_tesseract]


def test_a_two_column_page_is_read_left_column_first(tmp_path):
    scan = Scan(dpi=150, rotate=0.4, noise=0.001, seed=7)
    picture, (left, right) = two_column_page(corpus_paragraphs()[20:40], scan, lines_per_column=8)
    path = tmp_path / "two-columns.png"
    picture.save(path, dpi=(scan.dpi, scan.dpi))
    read = load_document(path, ocr=OcrOptions()).text
    column_order = page_text(left) + page_text(right)
    interleaved = page_text([line for pair in zip(left, right) for line in pair])
    assert cer(column_order, read) <= 0.03, read  # the same characters in column order ...
    assert cer(interleaved, read) > 0.3, read  # ... far from the line-by-line order of a reader that ignores columns
    assert not re.search(f"[{CJK}] [{CJK}]", read)
