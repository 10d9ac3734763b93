"""Word .docx: paragraphs in order, headings from styles and from the text, tables, core properties."""

from __future__ import annotations

import pytest

from indexer.chunking import chunk_document
from indexer.documents import load_document
from tests.support.filemakers import make_docx, paragraph_style

PREAMBLE = "各省、自治区、直辖市人民政府，国务院各部委、各直属机构："
GUIDING = "（一）指导思想。坚持以新时代中国特色社会主义思想为指导，全面贯彻党的二十大精神，加快推进数字政府建设。"
PRINCIPLES = "（二）基本原则。坚持党的全面领导，坚持以人民为中心，坚持改革引领，坚持数据赋能，坚持整体协同。"
DUTIES = "强化经济运行大数据监测分析，提升经济调节能力。大力推行智慧监管，提升市场监管能力。"
SAFETY = "全面强化数字政府安全管理责任，落实安全管理制度，加快关键核心技术攻关，筑牢安全防线。"


def build_guideline(document) -> None:
    document.add_paragraph("关于加强数字政府建设的指导意见", style="Title")
    document.add_paragraph(PREAMBLE)
    document.add_heading("总体要求", 1)
    document.add_paragraph(GUIDING)
    document.add_paragraph(PRINCIPLES)
    document.add_heading("主要任务", 1)
    document.add_heading("构建数字化履职能力体系", 2)
    document.add_paragraph(DUTIES)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "指标", "2025年目标"
    table.cell(1, 0).text, table.cell(1, 1).text = "政务服务事项网上可办率", "百分之九十五"
    document.add_heading("构建数字政府安全保障体系", 2)
    document.add_paragraph(SAFETY)


@pytest.fixture
def guideline(tmp_path):
    return load_document(
        make_docx(tmp_path / "guideline.docx", build_guideline, title="关于加强数字政府建设的指导意见")
    )


def chunks_of(doc):
    chunks = chunk_document(doc, target_chars=60, max_chars=120, min_chars=10)
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    return chunks


def chunk_with(chunks, needle: str):
    return next(c for c in chunks if needle in c.text)


def test_paragraphs_in_order_with_tables(guideline):
    lines = guideline.text.split("\n")
    assert lines[:4] == ["关于加强数字政府建设的指导意见", PREAMBLE, "总体要求", GUIDING]
    assert "指标 | 2025年目标" in lines and "政务服务事项网上可办率 | 百分之九十五" in lines
    assert lines.index(DUTIES) < lines.index("指标 | 2025年目标") < lines.index(SAFETY)
    assert guideline.title == "关于加强数字政府建设的指导意见"


def test_word_heading_styles_and_text_markers_make_the_heading_path(guideline):
    chunks = chunks_of(guideline)
    assert chunk_with(chunks, PREAMBLE).heading_path == []
    assert chunk_with(chunks, "指导思想").heading_path == ["总体要求", "（一）指导思想"]
    assert chunk_with(chunks, "基本原则").heading_path == ["总体要求", "（二）基本原则"]
    assert chunk_with(chunks, DUTIES[:20]).heading_path == ["主要任务", "构建数字化履职能力体系"]
    assert chunk_with(chunks, "政务服务事项网上可办率").heading_path == ["主要任务", "构建数字化履职能力体系"]
    assert chunk_with(chunks, SAFETY[:20]).heading_path == ["主要任务", "构建数字政府安全保障体系"]
    assert all(c.page is None for c in chunks)


def test_chinese_style_names_and_outline_levels_are_headings(tmp_path):
    def build(document) -> None:
        level1 = paragraph_style(document, "标题 1")
        level2 = paragraph_style(document, "公文二级标题", outline_level=1)
        document.add_paragraph("第一部分 发展成就", style=level1)
        document.add_paragraph("经济实力跃上新台阶", style=level2)
        document.add_paragraph("国内生产总值从五十四万亿元增长到一百一十四万亿元，经济总量稳居世界第二位。")
        document.add_paragraph("第二部分 今后工作", style=level1)
        document.add_paragraph("坚持稳中求进工作总基调，完整、准确、全面贯彻新发展理念，加快构建新发展格局。")

    doc = load_document(make_docx(tmp_path / "成就.docx", build))
    chunks = chunks_of(doc)
    assert chunk_with(chunks, "国内生产总值").heading_path == ["第一部分 发展成就", "经济实力跃上新台阶"]
    assert chunk_with(chunks, "稳中求进").heading_path == ["第二部分 今后工作"]


def test_a_whole_paragraph_styled_as_heading_stays_body_text(tmp_path):
    long_text = "这一段落被误设为一级标题样式，" * 8 + "但它是正文，内容不能因此从检索结果中消失。"

    def build(document) -> None:
        document.add_heading("工作要求", 1)
        document.add_heading(long_text, 1)

    chunks = chunks_of(load_document(make_docx(tmp_path / "误用.docx", build)))
    assert any("内容不能因此从检索结果中消失" in c.text for c in chunks)


def test_title_from_core_properties_else_the_first_heading(tmp_path):
    def build(document) -> None:
        document.add_heading("关于做好2024年春耕生产工作的通知", 1)
        document.add_paragraph("各地要抓好春耕备耕，确保粮食播种面积稳定，落实好耕地地力保护补贴政策。")

    untitled = load_document(make_docx(tmp_path / "f3a9c0d1e4b5a671.docx", build))
    assert untitled.title == "关于做好2024年春耕生产工作的通知"
    assert untitled.meta["type"] == "notice" and untitled.meta["year"] == 2024
    assert untitled.headings == []  # the title is not a section: chunks do not all sit under it
    titled = load_document(make_docx(tmp_path / "b.docx", build, title="春耕通知（修订稿）", category="通知"))
    assert titled.title == "春耕通知（修订稿）"
    assert titled.meta["type"] == "notice"


def test_core_properties_give_a_date_but_the_template_date_is_ignored(tmp_path):
    from datetime import datetime

    def build(document) -> None:
        document.add_paragraph("会议听取了关于防汛抗旱工作的汇报，研究部署下一阶段工作。")

    plain = load_document(make_docx(tmp_path / "a.docx", build))
    assert "date" not in plain.meta  # python-docx's template says 2013, which means nothing

    def dated(document) -> None:
        build(document)
        document.core_properties.created = datetime(2021, 7, 1, 9, 0)

    doc = load_document(make_docx(tmp_path / "b.docx", dated))
    assert doc.meta["date"] == "2021-07-01" and doc.meta["year"] == 2021


def test_line_breaks_inside_a_word_paragraph_join_without_spaces(tmp_path):
    def build(document) -> None:
        paragraph = document.add_paragraph("各地要切实增强防汛")
        paragraph.add_run().add_break()
        paragraph.add_run("工作的责任感和紧迫感。")

    doc = load_document(make_docx(tmp_path / "a.docx", build))
    assert doc.text == "各地要切实增强防汛工作的责任感和紧迫感。"
