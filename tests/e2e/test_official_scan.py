"""A scanned 公文 (image-only PDF, 200 dpi, turned, speckled): its GB/T 9704 fields read through OCR."""

from __future__ import annotations

import pytest

from indexer.documents import load_document
from indexer.formats.ocr import OcrOptions
from indexer.tools.scans import Scan, render_page, save_pdf
from tests.support.official_docs import NOTICE, NOTICE_FIELDS
from tests.support.scans import needs_tesseract

pytestmark = [pytest.mark.slow, needs_tesseract]


def test_official_fields_of_a_scanned_notice(tmp_path):
    scan = Scan(dpi=200, rotate=0.5, noise=0.001, seed=4, page_numbers=False)
    path = save_pdf([render_page(NOTICE, 1, scan)], tmp_path / "scan.pdf", scan.dpi)
    doc = load_document(path, ocr=OcrOptions(dpi=scan.dpi))
    assert doc.meta["ocr_pages"]["1"] > 80
    assert doc.title == "国务院关于加快推进数字政府建设的通知"  # not "scan" (the PDF maker wrote)
    for key in NOTICE_FIELDS:  # 发文机关, 发文字号, 主送机关, 成文日期, 印发机关和日期, 附件, 抄送
        assert doc.meta.get(key) == NOTICE_FIELDS[key], (key, doc.text)
