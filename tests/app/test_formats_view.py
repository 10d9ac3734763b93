"""What the page shows of how a document arrived: passages read by OCR marked 识别文本 with their page."""

from __future__ import annotations

import re

import pytest

from indexer import textnorm
from indexer.models import Chunk, Document
from indexer.retrieval import SearchEngine
from indexer.store import IndexContent, write_version
from search_app import create_app
from tests.support.fakes import FakeEmbedder
from tests.support.fakes_engine import test_settings

TEXT_PAGE = "全面推进政务服务一网通办，企业开办时间压缩到一个工作日以内。"
SCANNED_PAGE = "高标准农田建设面积累计达到十亿亩，粮食产量连续九年稳定在一万三千亿斤以上。"


@pytest.fixture
def client(tmp_path):
    text = f"{TEXT_PAGE}\n{SCANNED_PAGE}"
    meta = {"type": "report", "year": 2024, "ocr_pages": {"2": 91.4}}
    doc = Document("scan", "扫描的报告", text, content_hash="h", meta=meta)
    second = len(TEXT_PAGE) + 1
    chunks = [
        Chunk("scan#0", "scan", doc.title, [], TEXT_PAGE, 0, len(TEXT_PAGE), 0, page=1),
        Chunk("scan#1", "scan", doc.title, [], SCANNED_PAGE, second, len(text), 1, page=2),
    ]
    embedder = FakeEmbedder()
    texts = [c.embedding_text() for c in chunks]
    content = IndexContent([doc], chunks, embedder.encode_passages(texts), [textnorm.tokenize(t) for t in texts])
    settings = test_settings(tmp_path)
    write_version(settings.index_dir, content, {"model": embedder.name, "dim": embedder.dim, "chunker": "test"})
    engine = SearchEngine.open(settings, embedder=embedder)
    return create_app(settings, engine=engine).test_client()


def test_results_mark_passages_read_by_ocr_with_their_page_and_confidence(client):
    html = client.get("/?q=高标准农田&mode=lexical").get_data(as_text=True)
    first = html.split('class="result"')[1]
    assert "第 2 页" in first and re.search(r'class="ocr" title="第 2 页为扫描页[^"]*置信度 91%">识别文本<', first)
    html = client.get("/?q=企业开办时间&mode=lexical").get_data(as_text=True)
    assert "第 1 页" in html.split('class="result"')[1] and "识别文本" not in html.split('class="result"')[1]
    api = client.get("/api/search?q=高标准农田&mode=lexical").get_json()
    assert api["results"][0]["page"] == 2 and api["results"][0]["meta"]["ocr_pages"] == {"2": 91.4}


def test_document_view_marks_only_the_scanned_page(client):
    html = client.get("/doc/scan").get_data(as_text=True)
    chunks = re.findall(r'<div class="chunk[^>]*>(.*?)</div>', html, re.S)
    assert len(chunks) == 2
    assert "识别文本" not in chunks[0] and "第 1 页" in chunks[0]
    assert "识别文本" in chunks[1] and "第 2 页" in chunks[1]
