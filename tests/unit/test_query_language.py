"""The query language (indexer.query): phrases, exclusions, OR, inline filters, odd syntax read literally."""

from __future__ import annotations

import pytest

from indexer import query


def test_plain_question_has_no_constraints():
    pq = query.parse("怎样防范意识形态领域的风险")
    assert pq.text == "怎样防范意识形态领域的风险"
    assert not pq.constrained and not pq.has_filters and pq.notes == ()


def test_phrase_exclusion_or_and_filters():
    pq = query.parse('"共同富裕" OR “先富带后富” 房地产 -调控 -"房住不炒" year:2018..2024 type:报告')
    assert pq.any_of == (("共同富裕", "先富带后富"),)
    assert pq.excluded == ("调控", "房住不炒")
    assert (pq.year_from, pq.year_to, pq.types) == (2018, 2024, ("report",))
    assert "房地产" in pq.text and "调控" not in pq.text and "year" not in pq.text
    assert pq.understood_zh().startswith("至少包含“共同富裕” 或 “先富带后富”")


def test_phrases_are_folded_traditional_and_full_width():
    pq = query.parse('"新質生產力" -＂ＧＤＰ＂')
    assert pq.phrases == ("新质生产力",) and pq.excluded == ("gdp",)


@pytest.mark.parametrize(
    ("raw", "years"),
    [
        ("year:2018", (2018, 2018)),
        ("year:..2023", (None, 2023)),
        ("year:2012..", (2012, None)),
        ("年份:2001-2003", (2001, 2003)),
    ],
)
def test_year_forms(raw, years):
    pq = query.parse(f"乡村振兴 {raw}")
    assert (pq.year_from, pq.year_to) == years and pq.text == "乡村振兴"


@pytest.mark.parametrize(
    ("raw", "note"),
    [
        ('"新质生产力', "引号"),
        ("OR 乡村振兴", "OR"),
        ("乡村振兴 OR", "OR"),
        ("year:abc 乡村", "年份"),
        ("year:2024..2018 乡村", "年份"),
        ("type:小说 乡村", "类型"),
        ("-调控", "排除"),
        ('""', "空引号"),
    ],
)
def test_odd_syntax_is_read_literally_with_a_note(raw, note):
    pq = query.parse(raw, known_types=("report", "speech"))
    assert any(note in n.zh for n in pq.notes), pq.notes
    assert not pq.phrases and not pq.any_of


def test_parse_never_raises_on_junk():
    for raw in ['"', "-", "--", "- -", '-"', "OR OR", "“", "year:", "type:", "a OR -b", '"a" -"" OR']:
        query.parse(raw)


def test_passage_scan_matches_phrases_within_a_passage_only():
    scan = query.PassageScan(["房地产市场平稳", "加强房地产调控", "房地", "产业"])
    pq = query.parse('"房地产" -调控')
    assert scan.constraint_mask(pq).tolist() == [True, False, False, False]
    assert scan.rows_with("房地产").tolist() == [True, True, False, False]  # not across the passage border
    assert query.parse("乡村 OR 产业").any_of and scan.constraint_mask(query.parse("房地 OR 产业")).tolist() == [
        True,
        True,
        True,
        True,
    ]


def test_quotes_in_an_english_question_are_emphasis_not_a_constraint():
    pq = query.parse('What did the report promise about "involution" style competition?')
    assert pq.phrases == () and "involution" in pq.text
    assert any("emphasis" in n.en for n in pq.notes)
    # A query that is only a quoted Latin term, or one with Chinese in it, stays exact.
    assert query.parse('"GDP"').phrases == ("gdp",)
    assert query.parse('"新质生产力" what is it').phrases == ("新质生产力",)
