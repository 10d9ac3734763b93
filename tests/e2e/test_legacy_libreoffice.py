"""LibreOffice, the last resort for .doc/.wps, keeps Word heading styles (catdoc/antiword do not)."""

from __future__ import annotations

import shutil

import pytest

import indexer.formats.doc_reader as doc_reader
from indexer.documents import load_document
from tests.support.legacy import FIXTURE, needs_libreoffice

pytestmark = [pytest.mark.slow, needs_libreoffice]


def test_libreoffice_reads_heading_styles_and_table_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_reader, "_tools", lambda: ["soffice"])
    doc = load_document(shutil.copyfile(FIXTURE, tmp_path / "通知.wps"))
    lines = doc.text.split("\n")
    heading_lines = [doc.text[offset:].split("\n", 1)[0] for offset, _ in doc.headings]
    assert heading_lines == ["一、总体要求", "二、主要指标", "工作保障"]  # "工作保障" has only its style
    assert "网格员数量（万人） | 450 | 500" in lines
