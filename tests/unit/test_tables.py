"""Tables in .docx, HTML and PDF: one row per line, cells separated, caption in the heading path, found by a cell."""

from __future__ import annotations

import pytest

from indexer.chunking import chunk_document
from indexer.documents import load_document
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.filemakers import make_docx, needs_cjk_font
from tests.support.settings import test_settings

INTRO = "二〇二四年经济社会发展主要预期目标如下，各地区各部门要结合实际抓好落实，确保完成全年目标任务。" * 2
AFTER = "实现上述目标，需要付出艰苦努力。要坚持稳中求进工作总基调，完整准确全面贯彻新发展理念。" * 2
ROWS = [
    ["指标", "2024年目标", "2023年实际"],
    ["国内生产总值增长", "5%左右", "5.2%"],
    ["城镇新增就业", "1200万人以上", "1244万人"],
    ["居民消费价格涨幅", "3%左右", "0.2%"],
]
CAPTION = "表1 2024年主要预期目标"


def _check(doc) -> None:
    lines = doc.text.split("\n")
    assert [" | ".join(r) for r in ROWS] == [line for line in lines if " | " in line]
    chunks = chunk_document(doc)
    table = [c for c in chunks if "城镇新增就业 | 1200万人以上 | 1244万人" in c.text]
    assert len(table) == 1 and table[0].heading_path == ["二、主要目标", CAPTION]
    assert INTRO[:20] not in table[0].text and AFTER[:20] not in table[0].text  # the table is a passage of its own
    assert [c.heading_path for c in chunks if AFTER[:20] in c.text] == [["二、主要目标"]]


def test_docx_table_rows_are_a_passage_under_caption_and_heading(tmp_path):
    def build(d):
        d.add_heading("二、主要目标", 1)
        d.add_paragraph(INTRO)
        d.add_paragraph(CAPTION)
        table = d.add_table(rows=len(ROWS), cols=3)
        for r, row in enumerate(ROWS):
            for c, value in enumerate(row):
                table.cell(r, c).text = value
        d.add_paragraph(AFTER)

    _check(load_document(make_docx(tmp_path / "目标.docx", build)))


def _html(caption_element: bool) -> str:
    head = "".join(f"<th>{c}</th>" for c in ROWS[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in ROWS[1:])
    caption = f"<caption>{CAPTION}</caption>" if caption_element else ""
    before = "" if caption_element else f"<p>{CAPTION}</p>"
    return (
        f"<html><head><title>目标</title></head><body><article><h1>政府工作报告</h1><h2>二、主要目标</h2>"
        f"<p>{INTRO}</p>{before}<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{AFTER}</p></article></body></html>"
    )


@pytest.mark.parametrize("caption_element", [True, False], ids=["caption-element", "caption-paragraph"])
def test_html_table_rows_are_a_passage_under_caption_and_heading(tmp_path, caption_element):
    path = tmp_path / "目标.html"
    path.write_text(_html(caption_element), encoding="utf-8")
    _check(load_document(path))


def test_a_question_about_one_cell_finds_the_table(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "目标.html").write_text(_html(True), encoding="utf-8")
    settings = test_settings(index_dir=tmp_path / "index")
    build_index([tmp_path / "docs"], settings, embedder=FakeEmbedder())
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    top = engine.search("2023年城镇新增就业实际是多少", k=1, mode="lexical").results[0]
    assert "城镇新增就业 | 1200万人以上 | 1244万人" in top.text and top.heading_path[-1] == CAPTION


def _pdf_with_table(path):
    from fpdf import FPDF

    from tests.support.filemakers import CJK_FONT

    pdf = FPDF()
    pdf.add_font("cjk", fname=str(CJK_FONT))
    pdf.add_page()
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 8, "二、主要目标", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 7, INTRO, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 8, CAPTION, new_x="LMARGIN", new_y="NEXT")
    with pdf.table(col_widths=(60, 50, 50), first_row_as_headings=False) as table:
        for row in ROWS:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(4)
    pdf.multi_cell(0, 7, AFTER, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


@needs_cjk_font
def test_pdf_ruled_table_rows_are_a_passage_under_caption_and_heading(tmp_path):
    doc = load_document(_pdf_with_table(tmp_path / "目标.pdf"))
    _check(doc)
    assert doc.text.startswith("二、主要目标\n" + INTRO[:30])
