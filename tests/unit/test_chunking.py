"""Heading-aware chunking: pinned on the seed speech and real reports, invariants on the whole corpus."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from indexer.chunking import CHUNKER_VERSION, chunk_document
from indexer.config import Settings
from indexer.documents import iter_documents, load_document
from indexer.models import Chunk, Document
from tests.support.corpus import CORPUS_DIR, SEEDS_DIR

REPORTS = CORPUS_DIR / "gov-work-reports"
CONGRESS = CORPUS_DIR / "cpc-congress-reports"
SEED_H1 = "一、深刻领会、准确把握党的十九届六中全会精神,深刻认识“两个确立”提出的决定性意义,更加坚定不移地践行“两个维护”"
SEED_H2 = "二、深刻领会、准确把握党的百年奋斗的重大成就和历史经验,迅速兴起学习宣传贯彻党的十九届六中全会精神的热潮"
SEED_H3 = "三、深刻领会、准确把握以史为鉴、开创未来的实践要求,坚持用全会精神指导和推进新时代宣传思想工作再上新台阶"


def doc_of(text: str, source_path: str = "t.txt", doc_id: str = "t") -> Document:
    return Document(doc_id=doc_id, title="测试", text=text, source_path=source_path)


def paths(chunks: list[Chunk]) -> list[list[str]]:
    """Distinct heading paths in reading order."""
    out: list[list[str]] = []
    for chunk in chunks:
        if not out or out[-1] != chunk.heading_path:
            out.append(chunk.heading_path)
    return out


def top_level(chunks: list[Chunk]) -> list[str]:
    tops: list[str] = []
    for chunk in chunks:
        if chunk.heading_path and chunk.heading_path[0] not in tops:
            tops.append(chunk.heading_path[0])
    return tops


def chunks_of(path: Path) -> list[Chunk]:
    return chunk_document(load_document(path))


def assert_invariants(doc: Document, chunks: list[Chunk], max_chars: int = 480) -> None:
    assert chunks, doc.doc_id
    previous_end = 0
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal and chunk.chunk_id == f"{doc.doc_id}#{ordinal}"
        assert chunk.doc_id == doc.doc_id and chunk.title == doc.title
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip(), chunk.chunk_id
        assert len(chunk.text) <= max_chars, chunk.chunk_id
        assert chunk.start >= previous_end, chunk.chunk_id  # in order, no overlap
        assert all(title for title in chunk.heading_path)
        previous_end = chunk.end


def assert_nothing_lost(doc: Document, chunks: list[Chunk]) -> None:
    """Every line is inside a chunk, or is a heading line shown in a heading path."""
    covered = bytearray(len(doc.text))
    for chunk in chunks:
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    titles = {title for chunk in chunks for title in chunk.heading_path}
    offset = 0
    for line in doc.text.split("\n"):
        if not all(covered[offset : offset + len(line)]):
            assert line in titles, (doc.doc_id, line)
        offset += len(line) + 1


# --- the seed speech -------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> tuple[Document, list[Chunk]]:
    doc = load_document(SEEDS_DIR / "000_025b12c513c7c695.txt")
    return doc, chunk_document(doc)


def test_seed_heading_paths(seed):
    _, chunks = seed
    assert paths(chunks) == [
        [],
        [SEED_H1],
        [SEED_H2],
        [SEED_H2, "一是全面准确、系统深入宣传党的十九届六中全会精神"],
        [SEED_H2, "二是多渠道发力,形成学习宣传贯彻全会精神的热潮"],
        [SEED_H2, "三是努力推动学习成果转化"],
        [SEED_H3],
        [SEED_H3, "一是进一步筑牢意识形态安全屏障"],
        [SEED_H3, "二是进一步巩固全国文明城市创建工作成果"],
        [SEED_H3, "三是进一步做大做强主流思想舆论"],
    ]
    assert len(chunks) == 13


def test_seed_preamble_headings_and_points(seed):
    doc, chunks = seed
    assert_invariants(doc, chunks)
    assert_nothing_lost(doc, chunks)
    assert chunks[0].heading_path == []
    assert chunks[0].text.startswith("下面是小编为大家整理的") and chunks[0].text.endswith("下面,谈几点个人认识。")
    assert not any(SEED_H1 in c.text for c in chunks)  # a heading line is path, not body
    point = next(c for c in chunks if c.heading_path[-1:] == ["一是进一步筑牢意识形态安全屏障"])
    assert point.text.startswith("一是进一步筑牢意识形态安全屏障。牢固树立“一盘棋”意识")  # the point keeps its text
    assert chunk_document(doc) == chunks  # deterministic


# --- real reports with other heading styles --------------------------------------------


def test_2024_report_sections_subsections_and_points():
    chunks = chunks_of(REPORTS / "2024年中华人民共和国国务院政府工作报告.txt")
    assert top_level(chunks) == [
        "一、2023年工作回顾",
        "二、2024年经济社会发展总体要求和政策取向",
        "三、2024年政府工作任务",
    ]
    found = paths(chunks)
    tasks = [p[1] for p in found if len(p) == 2 and p[0] == "三、2024年政府工作任务"]
    assert len(tasks) == 10 and tasks[0] == "（一）大力推进现代化产业体系建设，加快发展新质生产力"
    assert ["三、2024年政府工作任务", "（三）着力扩大国内需求，推动经济实现良性循环"] in found
    points = [p[1] for p in found if len(p) == 2 and p[0] == "一、2023年工作回顾"]
    assert [p[:2] for p in points] == ["一是", "二是", "三是", "四是", "五是", "六是"]
    # A point with a body labels its own paragraph only; the next paragraph is back under 一、.
    after = next(c for c in chunks if c.text.startswith("一年来，中国特色大国外交全面推进"))
    assert after.heading_path == ["一、2023年工作回顾"]
    assert chunks[0].heading_path == [] and chunks[0].text.startswith("政府工作报告\n——2024年3月5日")


def test_20th_congress_report_has_15_parts_with_numbered_subsections():
    chunks = chunks_of(CONGRESS / "高举中国特色社会主义伟大旗帜 为全面建设社会主义现代化国家而团结奋斗 (二十大).txt")
    tops = top_level(chunks)
    assert len(tops) == 15
    assert tops[0] == "一、过去五年的工作和新时代十年的伟大变革"
    assert tops[-1] == "十五、坚定不移全面从严治党，深入推进新时代党的建设新的伟大工程"
    assert ["四、加快构建新发展格局，着力推动高质量发展", "（一）构建高水平社会主义市场经济体制"] in paths(chunks)
    assert max(len(c.heading_path) for c in chunks) == 2


def test_14th_congress_report_ordinal_points_hold_enumerated_points():
    chunks = chunks_of(CONGRESS / "加快改革开放和现代化建设步伐 (十四大).txt")
    assert top_level(chunks) == [
        "一、十四年伟大实践的基本总结",
        "二、九十年代改革和建设的主要任务",
        "三、国际形势和我们的对外政策",
        "四、加强党的建设和改善党的领导",
    ]
    first = "第一，围绕社会主义市场经济体制的建立，加快经济改革步伐"
    assert ["二、九十年代改革和建设的主要任务", first, "二是加快市场体系的培育"] in paths(chunks)


def test_1955_report_numbered_lists_in_the_body_are_not_headings():
    chunks = chunks_of(REPORTS / "1955年中华人民共和国国务院政府工作报告.txt")
    assert top_level(chunks) == [
        "一、国家在过渡时期的总任务",
        "二、第一个五年计划概要",
        "三、第一個五年計劃的若幹問題",
        "四、为完成和超额完成第一个五年计划而奋斗",
    ]
    listed = next(c for c in chunks if "一、我国人民已经推翻了帝国主义者在中国的统治" in c.text)
    assert listed.heading_path == [
        "三、第一個五年計劃的若幹問題",
        "（一）关于工业和运输业的基本建设问题",
        "第一，基本建设规模的大小问题",
    ]


def test_1981_report_nests_levels_the_way_the_document_does():
    """This report opens with （一） and numbers its sub-sections 一、 inside it."""
    chunks = chunks_of(REPORTS / "1981年中华人民共和国国务院政府工作报告.txt")
    assert top_level(chunks) == ["（一）当前的经济形势", "（二）今后经济建设的方针", "（三）我国经济发展的前景"]
    assert ["（二）今后经济建设的方针", "一、依靠政策和科学，加快农业的发展"] in paths(chunks)


def test_1954_traditional_report_without_headings_chunks_cleanly():
    doc = load_document(REPORTS / "1954年中华人民共和国国务院政府工作报告.txt")
    chunks = chunk_document(doc)
    assert_invariants(doc, chunks)
    assert paths(chunks) == [[]]
    assert len(chunks) > 50
    assert chunks[0].text.startswith("各位代表：\n我們第一届全國人民代表大會第一次會議")


# --- the whole corpus ----------------------------------------------------------------


def test_invariants_hold_on_every_corpus_document():
    started = time.perf_counter()
    docs, errors = iter_documents(sorted(CORPUS_DIR.rglob("*.txt")))
    assert errors == [] and len(docs) == 87
    total = 0
    for doc in docs:
        chunks = chunk_document(doc)
        assert_invariants(doc, chunks)
        total += len(chunks)
        assert_nothing_lost(doc, chunks)
    assert total > 4000
    assert time.perf_counter() - started < 10


# --- rules, on small texts ---------------------------------------------------------------


def test_numbers_years_and_inline_enumerations_are_not_headings():
    text = "\n".join(
        [
            "1954年，我国开始了第一个五年计划。",
            "2.5%的增长主要来自消费。",
            "1.3亿人口从中受益。",
            "1、2月份工业生产平稳。",
            "一九五四年是重要的一年。",
            "一、二季度经济回升。",
            "十分重要的是坚持改革。",
            "第一次全体会议如期召开。",
            "首先，我们要坚持改革。",
            "我们要做到：一是坚持，二是改革。",
        ]
    )
    chunks = chunk_document(doc_of(text), min_chars=1)
    assert paths(chunks) == [[]]


def test_chapters_articles_and_items():
    text = "\n".join(
        [
            "第一章 总则",
            "第一条 为了规范管理，制定本办法。",
            "第二条 本办法适用于下列单位：",
            "（一）政府部门；",
            "（二）事业单位。",
            "第二章 附则",
            "第三条 本办法自发布之日起施行。",
        ]
    )
    assert paths(chunk_document(doc_of(text), min_chars=1)) == [
        ["第一章 总则", "第一条"],
        ["第一章 总则", "第二条"],
        ["第一章 总则", "第二条", "（一）政府部门"],
        ["第一章 总则", "第二条", "（二）事业单位"],
        ["第二章 附则", "第三条"],
    ]


def test_arabic_and_parenthesised_levels_nest_under_chinese_ones():
    text = "一、总体要求\n1．指导思想\n坚持稳中求进。\n（1）基本原则\n坚持人民至上。\n2．主要目标\n经济稳定增长。"
    assert paths(chunk_document(doc_of(text), min_chars=1)) == [
        ["一、总体要求", "1．指导思想"],
        ["一、总体要求", "1．指导思想", "（1）基本原则"],
        ["一、总体要求", "2．主要目标"],
    ]


def test_a_heading_without_body_only_labels_what_follows():
    text = "一、总体要求\n（一）指导思想\n坚持稳中求进工作总基调。\n二、重点任务\n扩大国内需求。"
    chunks = chunk_document(doc_of(text), min_chars=1)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (["一、总体要求", "（一）指导思想"], "坚持稳中求进工作总基调。"),
        (["二、重点任务"], "扩大国内需求。"),
    ]


def test_a_numbered_list_restarting_inside_a_section_is_body_text():
    body = "这是一段足够长的正文，用来说明问题的来龙去脉和具体做法。" * 3
    text = "\n".join(
        [
            "一、总体要求",
            body,
            "二、重点任务",
            "我们必须做好以下工作：",
            "一、开垦荒地。" + body,
            "二、兴修水利。" + body,
            "三、合理利用土地。" + body,
            "三、保障措施",
            body,
        ]
    )
    chunks = chunk_document(doc_of(text), min_chars=1)
    assert top_level(chunks) == ["一、总体要求", "二、重点任务", "三、保障措施"]
    assert next(c for c in chunks if "兴修水利" in c.text).heading_path == ["二、重点任务"]


def test_numbered_points_with_a_body_are_not_headings_where_the_level_has_heading_lines():
    body = "这是一段足够长的正文，用来说明问题的来龙去脉和具体做法。" * 2
    text = "\n".join(
        [
            "我们要做到以下几点：",
            "一、坚持改革。" + body,
            "二、扩大开放。" + body,
            "一、总体要求",
            body,
            "二、重点任务",
            body,
        ]
    )
    chunks = chunk_document(doc_of(text), min_chars=1)
    assert top_level(chunks) == ["一、总体要求", "二、重点任务"]
    assert chunks[0].heading_path == [] and "二、扩大开放。" in chunks[0].text


def test_markdown_headings_only_in_markdown_files():
    text = "# 总则\n这是总则的正文。\n## 适用范围\n这是适用范围的正文。"
    assert paths(chunk_document(doc_of(text, "policy.md"), min_chars=1)) == [["总则"], ["总则", "适用范围"]]
    assert paths(chunk_document(doc_of(text, "policy.txt"), min_chars=1)) == [[]]


def test_long_sections_split_at_sentence_ends_near_target():
    sentence = "要坚持以人民为中心的发展思想，扎实推进共同富裕，不断增强人民群众获得感。"  # 36 chars
    text = "一、民生\n" + sentence * 60
    chunks = chunk_document(doc_of(text))
    assert len(chunks) == round(len(sentence) * 60 / 320)
    for chunk in chunks:
        assert chunk.heading_path == ["一、民生"]
        assert chunk.text.endswith("。") and 200 <= len(chunk.text) <= 480


def test_a_sentence_longer_than_max_is_cut_at_commas_then_hard():
    clauses = "，".join(["坚持创新驱动发展战略"] * 80) + "。"  # one 879-char sentence
    chunks = chunk_document(doc_of(clauses), target_chars=100, max_chars=150, min_chars=20)
    assert "".join(c.text for c in chunks) == clauses
    assert all(len(c.text) <= 150 for c in chunks)
    assert all(c.text.endswith("，") for c in chunks[:-1])
    unpunctuated = "创新" * 400
    pieces = chunk_document(doc_of(unpunctuated), target_chars=100, max_chars=150, min_chars=20)
    assert "".join(c.text for c in pieces) == unpunctuated and all(len(c.text) <= 150 for c in pieces)


def test_tiny_fragments_join_a_neighbour():
    preamble = "这是前言部分的一段文字，说明了本文件的背景和目的。" * 3
    text = f"{preamble}\n一、总体要求\n要落实。\n二、重点任务\n" + "扩大国内需求，推动经济实现良性循环。" * 4
    chunks = chunk_document(doc_of(text))
    assert [c.heading_path for c in chunks] == [[], ["二、重点任务"]]
    assert chunks[0].text.endswith("一、总体要求\n要落实。")  # merged into the chunk before it
    alone = chunk_document(doc_of("各位代表：\n一、总体要求\n" + "扩大国内需求，推动经济实现良性循环。" * 4))
    assert len(alone) == 1 and alone[0].text.startswith("各位代表：")  # nothing before: joins the next
    assert alone[0].heading_path == ["一、总体要求"]  # labelled by the part holding most of the text


def test_offsets_survive_unnormalised_text():
    doc = doc_of("  一、标题  \r\n\r\n  这是正文，共有一句话。 \r\n")
    chunks = chunk_document(doc, min_chars=1)
    assert [(c.heading_path, c.text) for c in chunks] == [(["一、标题"], "这是正文，共有一句话。")]
    assert_invariants(doc, chunks)


def test_sizes_follow_arguments_and_settings():
    settings = Settings()
    assert (settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_min_chars) == (320, 480, 40)
    doc = load_document(REPORTS / "2023年中华人民共和国国务院政府工作报告.txt")
    small = chunk_document(doc, target_chars=120, max_chars=200, min_chars=20)
    assert_invariants(doc, small, max_chars=200)
    assert len(small) > 2 * len(chunk_document(doc))
    with pytest.raises(ValueError):
        chunk_document(doc, target_chars=500, max_chars=400)
    assert chunk_document(doc_of("")) == []
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION


def test_headings_and_pages_the_file_format_gives():
    lines = [
        "总体要求",
        "（一）指导思想。坚持以人民为中心的发展思想，全面深化改革开放。",
        "主要任务",
        "各地要加快推进数字政府建设，提升政务服务效能。",
        "一份被误设为标题样式的很长的段落" * 6,
    ]
    text = "\n".join(lines)
    starts = [text.index(line) for line in lines]
    doc = Document(
        doc_id="t",
        title="测试",
        text=text,
        headings=[(starts[0], 1), (starts[2], 1), (starts[4], 2)],
        pages=[0, starts[3]],
    )
    chunks = chunk_document(doc, target_chars=20, max_chars=40, min_chars=5)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert [(c.heading_path, c.page) for c in chunks if c.text.startswith(("（一）", "各地"))] == [
        (["总体要求", "（一）指导思想"], 1),
        (["主要任务"], 2),
    ]
    assert "一份被误设为标题样式" in "".join(c.text for c in chunks)  # too long to be a heading: kept as body
    assert all(c.page is None for c in chunk_document(doc_of(text)))
