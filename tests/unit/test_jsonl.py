"""JSONL bulk import: one document per line, bad lines reported one by one while the rest load."""

from __future__ import annotations

import json

import pytest

from indexer.chunking import chunk_document
from indexer.documents import DocumentError, iter_documents, load_document

SPEECH = "同志们：\n一、充分认识做好新时代人才工作的重要意义\n人才是实现民族振兴、赢得国际竞争主动的战略资源。"
NOTICE = "各省、自治区、直辖市人民政府：\n为做好今年防汛工作，现就有关事项通知如下。"
REPORT = "2023年国民经济和社会发展统计公报\n全年国内生产总值一百二十六万亿元，比上年增长百分之五点二。"


def line(**fields) -> str:
    return json.dumps(fields, ensure_ascii=False)


@pytest.fixture
def bulk(tmp_path):
    lines = [
        line(id="talent-2021", title="在中央人才工作会议上的讲话", text=SPEECH, date="2021-09-27", source="新华社"),
        line(title="关于做好防汛工作的通知", text=NOTICE, type="notice", year=2024),
        "",
        '{"title": "坏行", "text": "少了右括号"',
        '["不是", "对象"]',
        line(title="没有正文"),
        line(title="年份错误", text="正文内容。", year="二〇二四"),
        line(text=REPORT),
        line(id="copy", title="重复", text=SPEECH),
    ]
    path = tmp_path / "import.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_each_good_line_is_a_document(bulk):
    docs, _ = iter_documents([bulk])
    assert [d.doc_id for d in docs] == ["talent-2021", "关于做好防汛工作的通知-2", "2023年国民经济和社会发展统计公报-8"]
    speech, notice, report = docs
    assert speech.title == "在中央人才工作会议上的讲话" and speech.text == SPEECH
    assert speech.meta == {"type": "speech", "year": 2021, "date": "2021-09-27", "source": "新华社"}
    assert notice.meta["type"] == "notice" and notice.meta["year"] == 2024
    assert notice.source_path == f"{bulk}:2" and notice.meta["source"] == f"{bulk}:2"
    assert report.title == "2023年国民经济和社会发展统计公报" and report.meta["year"] == 2023
    chunks = chunk_document(speech)
    assert chunks[-1].heading_path == ["一、充分认识做好新时代人才工作的重要意义"]


def test_bad_lines_are_reported_with_their_line_numbers(bulk):
    _, errors = iter_documents([bulk])
    reasons = [e.reason for e in errors]
    assert reasons[0].startswith("line 4: invalid JSON")
    assert reasons[1] == "line 5: not a JSON object but list"
    assert reasons[2] == 'line 6: no "text" (a non-empty string is needed)'
    assert reasons[3] == "line 7: year '二〇二四' is not a number"
    assert "same text as" in reasons[4] and str(errors[4].path).endswith(":9")
    assert len(errors) == 5 and all(isinstance(e, DocumentError) for e in errors)


def test_sidecar_and_flags_fill_in_what_lines_leave_out(bulk):
    bulk.with_suffix(".meta.json").write_text('{"source": "政务公开平台", "title": "不用于每行"}', encoding="utf-8")
    docs, _ = iter_documents([bulk], overrides={"type": "report"})
    speech, notice, report = docs
    assert speech.meta["source"] == "新华社" and notice.meta["source"] == "政务公开平台"
    assert notice.meta["type"] == "notice"  # the line's own type stays
    assert speech.meta["type"] == report.meta["type"] == "report"  # the flag fills a gap, before any guess
    assert notice.title == "关于做好防汛工作的通知"


def test_a_jsonl_file_is_not_one_document(bulk):
    with pytest.raises(DocumentError, match="many documents"):
        load_document(bulk)


def test_a_jsonl_file_that_is_not_text_is_refused_whole(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\x00\x01\x02" * 100)
    docs, errors = iter_documents([path])
    assert docs == [] and len(errors) == 1 and "binary" in errors[0].reason
