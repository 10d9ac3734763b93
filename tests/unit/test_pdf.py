"""PDF: text layer, page numbers per chunk, wrapped lines rejoined, running headers and page numbers dropped."""

from __future__ import annotations

import re

import pytest

from indexer.chunking import chunk_document
from indexer.documents import DocumentError, load_document
from indexer.formats.lines import CJK
from tests.support.filemakers import make_pdf, make_scanned_pdf, needs_cjk_font, wrap

pytestmark = needs_cjk_font

WIDTH = 30  # characters per full line
GROWTH = (
    "过去一年，国内生产总值超过一百二十六万亿元，增长百分之五点二，增速居世界主要经济体前列。"
    "城镇新增就业一千二百四十四万人，城镇调查失业率平均为百分之五点二。"
)
PRICES = "居民消费价格上涨百分之零点二，国际收支基本平衡。粮食产量一万三千九百零八亿斤，创历史新高。"
REFORM = (
    "深化重点领域改革，推动国有企业改革深化提升行动，完善中国特色现代企业制度。"
    "出台促进民营经济发展壮大的意见及配套举措，破除影响各类所有制企业公平竞争的制度障碍。"
    "扩大高水平对外开放，稳步推进制度型开放，持续建设市场化、法治化、国际化一流营商环境。"
)
OPENING = "坚定不移扩大开放，积极参与全球治理体系改革和建设，推动构建人类命运共同体。"
ENGLISH = [
    "China will keep opening up to the world and will deepen its inter-",
    "national cooperation on trade, investment, science and technology",
    "rules.",
]
HEADER = "2024年政府工作报告（全文）"


def report_pages() -> list[list[str]]:
    """Three pages; REFORM starts at the foot of page 1 and runs on to page 2."""
    reform = wrap(REFORM, WIDTH)
    return [
        ["2024年政府工作报告", "一、2023年工作回顾", *wrap(GROWTH, WIDTH), *wrap(PRICES, WIDTH), *reform[:2]],
        [*reform[2:], "二、2024年工作任务", *wrap(OPENING, WIDTH)],
        [*ENGLISH, "三、加强政府自身建设", "各级政府要坚持依法行政，自觉接受人大监督。"],
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("pdf") / "f3a9c0d1e4b5a671.pdf"
    make_pdf(path, report_pages(), running_header=HEADER, page_numbers="- {n} -", title="2024年政府工作报告")
    return load_document(path)


def test_wrapped_lines_rejoin_into_paragraphs_without_stray_spaces(report):
    lines = report.text.split("\n")
    assert lines[:3] == ["2024年政府工作报告", "一、2023年工作回顾", GROWTH]
    assert PRICES in lines
    assert REFORM in lines  # joined across the page break too
    assert not re.search(f"[{CJK}，。、；] +[{CJK}，。、；]", report.text)


def test_hyphenated_english_words_are_rejoined(report):
    assert (
        "will deepen its international cooperation on trade, investment, science and technology rules." in report.text
    )
    assert "inter-" not in report.text


def test_running_headers_and_page_numbers_are_dropped(report):
    assert HEADER not in report.text
    assert not re.search(r"^-?\s*\d+\s*-?$", report.text, flags=re.MULTILINE)
    assert "- 2 -" not in report.text


def test_chunks_know_the_page_they_start_on(report):
    assert report.pages[0] == 0 and len(report.pages) == 3
    chunks = chunk_document(report, target_chars=40, max_chars=80, min_chars=10)
    assert all(report.text[c.start : c.end] == c.text for c in chunks)
    expected = {
        "过去一年": 1,
        "居民消费价格": 1,
        "深化重点领域改革": 1,
        "扩大高水平对外开放": 2,
        "坚定不移": 2,
        "China": 3,
    }
    for start, page in expected.items():
        chunk = next(c for c in chunks if c.text.startswith(start))
        assert chunk.page == page, (start, chunk.page)
    assert [c.page for c in chunks] == sorted(c.page for c in chunks)
    tail = next(c for c in chunks if "依法行政" in c.text)
    assert tail.page == 3 and tail.heading_path == ["三、加强政府自身建设"]


def test_title_and_dates_come_from_the_pdf(report):
    assert report.title == "2024年政府工作报告"
    assert report.meta["type"] == "report" and report.meta["year"] == 2024
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", report.meta["date"])  # the PDF's creation date


def test_letter_spaced_chinese_loses_its_spaces_but_names_keep_theirs(tmp_path):
    pages = [["国 务 院 关 于 防 汛 工 作 的 通 知", "主持人：李 强", "各地要切实做好防汛工作，确保安全度汛。"]]
    doc = load_document(make_pdf(tmp_path / "notice.pdf", pages, page_numbers=None))
    assert doc.text.split("\n") == [
        "国务院关于防汛工作的通知",
        "主持人：李 强",
        "各地要切实做好防汛工作，确保安全度汛。",
    ]


def test_page_number_styles_are_dropped(tmp_path):
    for style in ("第 {n} 页", "{n}", "{n} / 3", "Page {n} of 3"):
        lines = ["要抓好春耕生产。", "要做好防汛准备。", "要保障能源供应。"]
        doc = load_document(make_pdf(tmp_path / "p.pdf", [[line] for line in lines], page_numbers=style))
        assert doc.text.replace("\n", "") == "".join(lines), style  # no page number left anywhere


def test_a_pdf_without_text_layer_is_refused(tmp_path):
    with pytest.raises(DocumentError, match=re.escape("no text layer (scanned PDF?)")):
        load_document(make_scanned_pdf(tmp_path / "scan.pdf"))


def test_encrypted_pdfs(tmp_path):
    pages = [["关于加强安全生产工作的通知", "各地要压实安全生产责任。"]]
    with pytest.raises(DocumentError, match="encrypted PDF: a password is needed"):
        load_document(make_pdf(tmp_path / "locked.pdf", pages, password="secret"))
    # Encrypted only to restrict editing (empty user password): opens like any PDF.
    doc = load_document(make_pdf(tmp_path / "restricted.pdf", pages, password=""))
    assert "压实安全生产责任" in doc.text
