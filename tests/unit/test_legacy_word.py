"""Legacy Word .doc and WPS .wps: text, table rows with their cells, numbered headings; tools missing."""

from __future__ import annotations

import shutil

import pytest

import indexer.formats.doc_reader as doc_reader
from indexer.documents import DocumentError, load_document
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.legacy import FIXTURE, TABLE, needs_doc_tools
from tests.support.settings import test_settings

ROW = "城乡社区综合服务设施覆盖率（按行政村和城市社区计算的比例） | 90% | 100%"


@needs_doc_tools
@pytest.mark.parametrize("suffix", [".doc", ".wps"])
def test_doc_and_wps_read_text_table_rows_and_numbered_headings(tmp_path, suffix):
    path = shutil.copyfile(FIXTURE, tmp_path / f"通知{suffix}")
    doc = load_document(path)
    lines = doc.text.split("\n")
    assert lines[:3] == ["关于加强基层治理的通知", "一、总体要求", lines[2]] and lines[2].startswith("坚持党的全面领导")
    assert [" | ".join(row) for row in TABLE] == [line for line in lines if " | " in line]
    assert ROW in lines and lines[-1] == "健全乡镇（街道）管理体制，增强乡镇（街道）行政执行能力。"


@needs_doc_tools
def test_antiword_reads_when_catdoc_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_reader, "_tools", lambda: ["antiword"])
    doc = load_document(shutil.copyfile(FIXTURE, tmp_path / "a.doc"))
    assert "网格员数量（万人） | 450 | 500" in doc.text.split("\n")
    assert "一、总体要求" in doc.text.split("\n")


@needs_doc_tools
def test_a_question_about_a_table_cell_finds_the_row(tmp_path):
    (tmp_path / "docs").mkdir()
    shutil.copyfile(FIXTURE, tmp_path / "docs" / "通知.doc")
    settings = test_settings(index_dir=tmp_path / "index")
    build_index([tmp_path / "docs"], settings, embedder=FakeEmbedder())
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    top = engine.search("网格员数量2025年目标是多少", k=1, mode="lexical").results[0]
    assert "网格员数量（万人） | 450 | 500" in top.text and top.heading_path[0] == "二、主要指标"


def test_without_tools_a_doc_is_skipped_with_a_clear_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(doc_reader.shutil, "which", lambda name: None)
    with pytest.raises(DocumentError, match="no reader for .doc/.wps installed: apt-get install catdoc antiword"):
        load_document(shutil.copyfile(FIXTURE, tmp_path / "a.wps"))
    (tmp_path / "b.doc").write_text("plain text named .doc", encoding="utf-8")
    with pytest.raises(DocumentError, match="no OLE2 header"):
        load_document(tmp_path / "b.doc")
