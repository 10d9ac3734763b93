"""An English scanned page: the Chinese-first reading finds it mostly Latin and reads it again with eng first."""

from __future__ import annotations

import re

import pytest

import indexer.formats.ocr as ocr
from indexer.documents import load_document
from indexer.formats.ocr import OcrOptions
from indexer.tools.scans import Scan, cer, page_text
from tests.support.scans import needs_tesseract, scanned_page

pytestmark = [pytest.mark.slow, needs_tesseract]

ENGLISH = [  # one line each (the test renderer would wrap a longer one inside a word)
    "The State Council issued a circular on digital government.",
    "Government services should be available online.",
    "Data should be shared between departments, so that",
    "citizens need to submit the same documents only once.",
]


def test_an_english_page_is_read_with_the_english_model_first(tmp_path, monkeypatch):
    scan = Scan(dpi=150, rotate=0.3, noise=0.001, seed=3, page_numbers=False)
    picture, lines = scanned_page(ENGLISH, scan)
    path = tmp_path / "english.png"
    picture.save(path, dpi=(scan.dpi, scan.dpi))
    used = []
    run = ocr._run_tesseract
    monkeypatch.setattr(ocr, "_run_tesseract", lambda png, langs, *a: used.append(langs) or run(png, langs, *a))
    text = load_document(path, ocr=OcrOptions()).text
    assert used == ["chi_sim+chi_tra", "eng+chi_sim+chi_tra"]
    assert cer(page_text(lines), text) <= 0.03, text
    assert "digital government" in text and "submit the same documents" in text  # words keep their spaces
    assert not re.search(r"[\u4e00-\u9fff]", text)
