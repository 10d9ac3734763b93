"""Small index builders for unit tests: hand-made documents written straight to the store."""

from __future__ import annotations

from pathlib import Path

from indexer import textnorm
from indexer.models import Chunk, Document
from indexer.store import IndexContent, VectorIndexParams, write_version
from tests.support.fakes import FakeEmbedder

PASSAGES = {
    "speech": (
        "区委宣传部部长学习发言",
        {"year": 2021, "type": "speech"},
        [
            (["一、深刻认识两个确立"], "深刻认识“两个确立”的决定性意义，更加坚定地践行“两个维护”。"),
            (["二、迅速兴起学习热潮", "一是全面准确宣传全会精神"], "一是全面准确宣传全会精神。要精心组织理论学习。"),
            (
                ["三、实践要求", "一是进一步筑牢意识形态安全屏障"],
                "一是进一步筑牢意识形态安全屏障。落实意识形态工作责任制。",
            ),
        ],
    ),
    "report-2024": (
        "2024年政府工作报告",
        {"year": 2024, "type": "report"},
        [
            (["一、2023年工作回顾"], "国内生产总值超过126万亿元，增长5.2%。城镇新增就业1244万人。"),
            (["二、2024年主要目标"], "国内生产总值增长5%左右；城镇调查失业率5.5%左右。"),
        ],
    ),
}


def make_content(embedder: FakeEmbedder | None = None, passages: dict = PASSAGES) -> IndexContent:
    embedder = embedder or FakeEmbedder()
    docs, chunks = [], []
    for doc_id, (title, meta, sections) in passages.items():
        text = "\n".join(body for _, body in sections)
        docs.append(Document(doc_id=doc_id, title=title, text=text, content_hash=f"h-{doc_id}", meta=meta))
        offset = 0
        for i, (path, body) in enumerate(sections):
            chunks.append(Chunk(f"{doc_id}#{i}", doc_id, title, path, body, offset, offset + len(body), ordinal=i))
            offset += len(body) + 1
    texts = [c.embedding_text() for c in chunks]
    return IndexContent(docs, chunks, embedder.encode_passages(texts), [textnorm.tokenize(t) for t in texts])


def write_test_index(
    index_dir: Path,
    embedder: FakeEmbedder | None = None,
    passages: dict = PASSAGES,
    vector_params: VectorIndexParams | None = None,
) -> str:
    embedder = embedder or FakeEmbedder()
    manifest = {"model": embedder.name, "dim": embedder.dim, "chunker": "test"}
    return write_version(index_dir, make_content(embedder, passages), manifest, vector_params=vector_params)
