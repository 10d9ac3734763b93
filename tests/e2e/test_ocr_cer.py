"""OCR quality on real corpus text: full A4 pages at 150 and 300 dpi, turned and speckled, CER <= 3%."""

from __future__ import annotations

import re

import pytest

from indexer.documents import load_document
from indexer.formats.lines import CJK
from indexer.formats.ocr import OcrOptions
from indexer.tools.scans import Scan, cer, page_text
from tests.support.scans import corpus_paragraphs, needs_tesseract, scanned_page

pytestmark = [pytest.mark.slow, needs_tesseract]


@pytest.mark.parametrize(
    "scan",
    [Scan(dpi=150, rotate=1.0, noise=0.002, seed=1), Scan(dpi=300, rotate=-0.8, noise=0.002, seed=2)],
    ids=["150dpi", "300dpi"],
)
def test_a_scanned_corpus_page_reads_with_at_most_3_percent_character_errors(tmp_path, scan):
    picture, lines = scanned_page(corpus_paragraphs()[10:60], scan)
    path = tmp_path / f"page-{scan.dpi}.png"
    picture.save(path, dpi=(scan.dpi, scan.dpi))
    doc = load_document(path, ocr=OcrOptions())
    assert len(page_text(lines)) > 900  # a full page of the report
    assert cer(page_text(lines), doc.text) <= 0.03
    assert not re.search(f"[{CJK}] [{CJK}]", doc.text)  # Chinese lines joined without spaces
    assert not re.search(r"-\s*1\s*-", doc.text)  # the page number dropped
    assert doc.meta["ocr_pages"]["1"] > 80
