"""OCR: scanned PDF pages and images read by Tesseract; mixed PDFs; confidence and notes; missing Tesseract."""

from __future__ import annotations

import pytest

import indexer.formats.ocr as ocr
from indexer.documents import DocumentError, load_document
from indexer.formats.ocr import (
    OcrLine,
    OcrOptions,
    OcrPage,
    mend_cut_ends,
    mend_split_lines,
    parse_tsv,
    passes,
    shrink_large_text,
    text_height,
    unify_pages,
    unify_script,
)
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.tools.scans import Scan, cer, layout, page_text, render_page, save_tiff
from tests.support.fakes import FakeEmbedder
from tests.support.scans import corpus_paragraphs, make_mixed_pdf, needs_tesseract, scanned_page
from tests.support.settings import test_settings

TEXT_PAGE = [
    "一、数字政府建设",
    "全面推进政务服务一网通办，企业开办时间压缩到一个工作日以内。",
    "推动政务数据共享，省级政务服务事项网上可办率达到百分之九十以上。",
    "深化放管服改革，取消和下放一批行政许可事项，清理规范中介服务收费。",
]
SCANNED = [
    "二、乡村振兴",
    "高标准农田建设面积累计达到十亿亩，粮食产量连续九年稳定在一万三千亿斤以上，农村居民收入增长快于城镇居民。",
]
TSV_HEAD = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"


def _tsv(rows: list[tuple[int, int, float, str]]) -> str:
    """Word rows (line, left, conf, text) as Tesseract writes them."""
    return TSV_HEAD + "".join(
        f"5\t1\t1\t1\t{ln}\t{i}\t{left}\t0\t30\t30\t{conf}\t{word}\n" for i, (ln, left, conf, word) in enumerate(rows)
    )


def test_tsv_words_join_without_spaces_between_chinese_and_with_spaces_between_latin():
    page = parse_tsv(
        _tsv(
            [
                (1, 100, 90, "国内"),
                (1, 160, 80, "生产"),
                (1, 220, 90, "总值"),
                (1, 280, 95, "GDP"),
                (1, 340, 95, "grew"),
                (2, 200, 50, "增长"),
                (2, 260, 50, "5.2%"),
            ]
        )
    )
    assert [line.text for line in page.lines] == ["国内生产总值GDP grew", "增长5.2%"]
    assert [line.indented for line in page.lines] == [False, True]  # 100 px right of the page's left edge
    assert page.confidence == pytest.approx((90 * 2 + 80 * 2 + 90 * 2 + 95 * 3 + 95 * 4 + 50 * 2 + 50 * 4) / 19, 0.01)


def test_a_simplified_page_gets_one_script_and_chinese_punctuation():
    lines = unify_script([OcrLine("十七大以來的五年,是我們奮勇前進的五年。"), OcrLine("经济平稳较快发展")])
    assert [line.text for line in lines] == ["十七大以来的五年，是我们奋勇前进的五年。", "经济平稳较快发展"]
    traditional = unify_script([OcrLine("中華人民共和國憲法"), OcrLine("國家尊重和保障人权")])
    assert traditional[1].text == "國家尊重和保障人權"


def test_the_whole_document_gets_its_majority_script_and_traditional_text_keeps_its_own_characters():
    simplified = OcrPage([OcrLine("我们要在一九八〇年以前建成独立的工业体系和国民经济体系，实现农业、工业现代化")])
    short_last = OcrPage([OcrLine("們這邊來。")])  # alone, this page looks traditional
    pages = unify_pages([simplified, short_last])
    assert pages[1].lines[0].text == "们这边来。"
    traditional = unify_script([OcrLine("黨的周刊，同志們不了解這個")])
    assert traditional[0].text == "黨的周刊，同志們不了解這個"  # not 週刊/瞭解 (OpenCC phrases)


def test_chinese_pages_are_read_with_the_chinese_models_first_then_the_others_first():
    assert passes("chi_sim+chi_tra+eng") == ["chi_sim+chi_tra", "eng+chi_sim+chi_tra"]
    assert passes("chi_sim+chi_tra") == ["chi_sim+chi_tra"]
    assert passes("eng+deu") == ["eng+deu"]


def test_pieces_of_one_cut_apart_line_are_read_again_as_one_line():
    from PIL import Image

    lines = [
        OcrLine("两个组织各有四十至五十名工人。因为我们不是该党党员", False, (199, 843, 1450, 873), 1, 30),
        # a lone "告。" ending a paragraph, cut into its top and bottom halves
        OcrLine("-一", True, (199, 895, 229, 910), 2, 15),
        OcrLine("户o", False, (203, 907, 245, 935), 2, 14),
        OcrLine("一月，陈独秀同志来到广州", True, (264, 941, 1450, 971), 3, 30),
        OcrLine("左栏", False, (199, 1000, 600, 1030), 4, 30),
        OcrLine("右栏", False, (800, 1002, 1200, 1032), 4, 30),  # same height, far beside it: another column
        # "贡献。": its first character a block of its own (read as 意), listed after the next line
        OcrLine("献。", False, (242, 2000, 287, 2049), 5, 30),
        OcrLine("我们必须牢记", True, (274, 2060, 1450, 2090), 5, 30),
        OcrLine("意", False, (209, 2005, 239, 2035), 6, 30),
        # two printed lines Tesseract mixed up (one "line" three characters high): no single line to read again
        OcrLine("同和，因為其余的材料落到", False, (203, 1060, 1444, 1158), 7, 31),
        OcrLine("和一个同志被捕", False, (217, 1088, 785, 1170), 7, 30),
    ]
    readings = {(46 + 30, 40 + 20): "告。", (78 + 30, 49 + 20): "贡献。"}
    crops = []

    def read_line(crop):
        crops.append(crop.size)
        return OcrPage([OcrLine(readings[crop.size])])

    page = mend_split_lines(Image.new("L", (1655, 2338), 255), OcrPage(list(lines)), read_line)
    texts = [line.text for line in page.lines]
    assert texts == [lines[0].text, "告。", lines[3].text, "左栏", "右栏", "贡献。", "我们必须牢记", *texts[-2:]]
    assert texts[-2:] == [lines[-2].text, lines[-1].text]
    assert crops == list(readings)  # the pieces' box, half a character wider and a third higher each side
    assert [line.indented for line in page.lines][:2] == [False, False]  # "告。" starts at the left margin


def test_a_character_left_out_of_its_line_is_read_again_with_the_line():
    from PIL import Image, ImageDraw

    image = Image.new("L", (1600, 400), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((1420, 105, 1445, 132), fill=0)  # the glyph right of line 1's last word that no word covers
    draw.rectangle((800, 205, 830, 232), fill=0)  # ink of line 3's own word: covered, nothing to do
    for x in range(0, 1600, 97):  # speckle beside line 2: not a glyph
        image.putpixel((x % 1600, 210 if x % 2 else 170), 0)
    lines = [
        OcrLine("大批的无产阶级革命", False, (200, 100, 1417, 134), 1, 30, (103, 133)),
        OcrLine("业接班人茁壮成长", False, (200, 155, 700, 188), 1, 30, (157, 187)),
        OcrLine("左栏的字", False, (200, 200, 760, 234), 1, 30, (203, 233)),
        OcrLine("右栏", False, (790, 200, 840, 234), 2, 30, (203, 233)),
    ]
    reread = {(1417 - 200 + 60, 30 + 20): "大批的无产阶级革命事"}
    crops = []

    def read_line(crop):
        crops.append(crop.size)
        return OcrPage([OcrLine(reread.get(crop.size, "乱码"))])

    page = mend_cut_ends(image, OcrPage(list(lines)), read_line)
    assert crops == [(1417 - 200 + 60, 30 + 20)]  # one character's width each side, a third of one above and below
    assert [line.text for line in page.lines] == ["大批的无产阶级革命事", *(line.text for line in lines[1:])]
    assert unify_script([OcrLine("同志们,.北京共产主义组织")])[0].text == "同志们，北京共产主义组织"
    years = unify_script([OcrLine('在一九八"年以前，二o二四年，“一九”年代，第一"二号')])
    assert years[0].text == '在一九八〇年以前，二〇二四年，“一九”年代，第一"二号'  # a lone quote stays


@pytest.mark.slow  # real Tesseract
@needs_tesseract
def test_mixed_pdf_keeps_its_text_page_ocrs_the_scan_and_search_finds_each_on_its_page(tmp_path):
    picture, _ = scanned_page(SCANNED, Scan(dpi=150, rotate=0.6, noise=0.001))
    path = make_mixed_pdf(tmp_path / "docs" / "mixed.pdf", TEXT_PAGE, picture)
    doc = load_document(path, ocr=OcrOptions(dpi=150))
    assert doc.text.startswith("一、数字政府建设\n全面推进政务服务一网通办")
    assert "粮食产量连续九年稳定在一万三千亿斤以上，农村居民收入" in doc.text and " " not in doc.text
    assert list(doc.meta["ocr_pages"]) == ["2"] and doc.meta["ocr_pages"]["2"] > 60
    settings = test_settings(index_dir=tmp_path / "index", ocr_dpi=150)
    build_index([path], settings, embedder=FakeEmbedder())
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    for query, page in (("企业开办时间", 1), ("高标准农田建设面积", 2)):
        top = engine.search(query, k=1, mode="lexical").results[0]
        assert top.page == page and query in top.text
    assert engine.search("粮食产量", k=1, mode="lexical").results[0].meta["ocr_pages"] == doc.meta["ocr_pages"]


@pytest.mark.slow  # real Tesseract
@needs_tesseract
def test_multipage_tiff_is_a_document_with_pages(tmp_path):
    paragraphs = corpus_paragraphs()[:12]
    scan = Scan(dpi=150, noise=0.001)
    pages = [page[:4] for page in layout(paragraphs, scan)[:2]]  # 4 lines a page keep the test quick
    images = [render_page(lines, n, scan) for n, lines in enumerate(pages, 1)]
    path = save_tiff(images, tmp_path / "fax.tif", 150)
    doc = load_document(path, ocr=OcrOptions())
    assert sorted(doc.meta["ocr_pages"]) == ["1", "2"] and len(doc.pages) == 2
    for number, lines in enumerate(pages, 1):
        start = doc.pages[number - 1]
        end = doc.pages[number] if number < len(doc.pages) else len(doc.text)
        assert cer(page_text(lines), doc.text[start:end]) <= 0.03


def test_without_tesseract_the_scanned_page_is_skipped_with_a_note_and_the_text_page_kept(tmp_path, monkeypatch):
    from PIL import Image, ImageDraw

    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    ocr._missing.cache_clear()
    try:
        picture = Image.new("L", (800, 1100), 255)
        ImageDraw.Draw(picture).rectangle((100, 100, 700, 300), fill=0)
        path = make_mixed_pdf(tmp_path / "mixed.pdf", TEXT_PAGE, picture) if _font_ok() else None
        if path is not None:
            doc = load_document(path, ocr=OcrOptions())
            assert doc.text.startswith("一、数字政府建设") and "ocr_pages" not in doc.meta
            assert doc.notes == [f"page(s) 2 skipped: {ocr.missing_reason()}"]
            assert "Tesseract is not installed" in doc.notes[0]
            settings = test_settings(tmp_path)
            report = build_index([path], settings, embedder=FakeEmbedder())
            assert report.added == ["mixed"] and report.notes == [f"{path}: {doc.notes[0]}"]
        picture.save(tmp_path / "scan.png")
        with pytest.raises(DocumentError, match="image not read: Tesseract is not installed"):
            load_document(tmp_path / "scan.png", ocr=OcrOptions())
    finally:
        ocr._missing.cache_clear()


def _font_ok() -> bool:
    from indexer.tools.scans import CJK_FONT

    return CJK_FONT.is_file()


def test_the_scan_script_writes_image_only_pdfs_of_corpus_documents(tmp_path):
    from pypdf import PdfReader

    from indexer.tools.scan_eval import DOCS, scan_documents
    from indexer.tools.scans import CJK_FONT
    from tests.support.scans import CORPUS

    if not CJK_FONT.is_file():
        pytest.skip("CJK font missing")
    source = CORPUS.parent / DOCS[4]  # the shortest: one page
    (pdf,) = scan_documents([source], Scan(dpi=100), tmp_path)
    assert pdf.name == source.stem + ".pdf"
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 1 and not "".join(p.extract_text() or "" for p in reader.pages).strip()


def test_scanned_lines_join_by_where_they_reach_and_a_paragraph_runs_on_across_the_page_break():
    from indexer.formats.pdf_reader import _Line, layout_text

    def page(lines, number):
        return [_Line(text, indented, reach=reach) for text, indented, reach in lines] + [_Line(f"- {number} -")]

    first = [
        ("一、总体要求", True, 0.2),
        ("全年GDP增长5.2%，CPI上涨0.2%，推动", True, 0.99),  # a full line, but 17 "wide characters" of 22
        ("政务数据共享和业务协同。", False, 0.4),
        ("各地区各部门要加强组织领导，抓好贯彻落实。要", True, 1.0),  # runs on to the next page
    ]
    second = [("建立工作台账，明确责任分工。", False, 0.45), ("二、主要任务", True, 0.2)]
    text, starts, _ = layout_text([page(first, 1), page(second, 2), page([("完", False, 0.1)], 3)])
    assert text.split("\n") == [
        "一、总体要求",
        "全年GDP增长5.2%，CPI上涨0.2%，推动政务数据共享和业务协同。",
        "各地区各部门要加强组织领导，抓好贯彻落实。要建立工作台账，明确责任分工。",
        "二、主要任务",
        "完",
    ]
    assert text[starts[1] :].startswith("建立工作台账")  # page 2 starts inside the paragraph


@pytest.mark.skipif(not _font_ok(), reason="CJK font missing")
@pytest.mark.parametrize("dpi, font_pt, scaled", [(200, 12, False), (300, 12, True), (300, 9, False), (300, 16, True)])
def test_pages_of_large_text_are_scaled_down_to_the_size_tesseract_reads_best(dpi, font_pt, scaled):
    scan = Scan(dpi=dpi, font_pt=font_pt, rotate=0.8, noise=0.001, page_numbers=False)
    picture, _ = scanned_page(corpus_paragraphs()[10:20], scan, lines=12)
    ink = 0.9 * font_pt / 72 * dpi  # a Chinese character's ink is about 0.9 of the font size
    assert abs(text_height(picture) - ink) <= 0.15 * ink
    shrunk, new_dpi = shrink_large_text(picture, dpi)
    assert (shrunk.size != picture.size) == scaled
    if scaled:  # 12 pt at 300 dpi (45 px) and a 公文's 16 pt (三号) at 300 dpi (60 px) come down to 31 px
        assert abs(text_height(shrunk) - 31) <= 4 and abs(new_dpi - dpi * shrunk.width / picture.width) <= 1
