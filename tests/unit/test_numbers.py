"""Numbers and dates folded to one spelling, so index and question meet in BM25."""

import pytest

from indexer import textnorm
from indexer.numbers import canonical_amount, cn_int, cn_to_number, fold_numbers


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("十六", 16),
        ("二十", 20),
        ("四百二十", 420),
        ("一千零二十七", 1027),
        ("二万八千", 28_000),
        ("一万三千亿", 1.3e12),
        ("一千三百八十七亿四千万", 138_740_000_000),
        ("三十六点九", 36.9),
        ("两", 2),
    ],
)
def test_chinese_numbers_have_their_value(text: str, value: float) -> None:
    assert cn_to_number(text) == pytest.approx(value)


def test_names_made_of_digits_are_not_numbers() -> None:
    assert cn_to_number("十四五") is None and cn_to_number("一五") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("一九八〇年", "1980年"),
        ("一九八○年", "1980年"),  # the circle sign some transcriptions use for zero
        ("二〇二〇年", "2020年"),
        ("二０二０年", "2020年"),  # full-width zero
        ("二0一0年", "2010年"),
        ("１９９３年", "1993年"),
        ("1 9 9 3 年", "1993年"),  # spaced digits, as in the 1998 report
        ("百分之五", "5%"),
        ("百分之三十六点九", "36.9%"),
        ("翻一番", "2倍"),
        ("翻两番", "4倍"),
        ("增长六点五倍", "增长6.5倍"),
        ("1.3万亿元", "13000亿元"),
        ("一万三千亿元", "13000亿元"),
        ("二万八千亿元", "2.8万亿元"),
        ("4 9 2 5 0 万吨", "4.925亿吨"),
        ("3，120亿度", "3120亿度"),
        ("四百二十人", "420人"),
        ("二十年", "20年"),
    ],
)
def test_the_same_figure_gives_the_same_tokens(a: str, b: str) -> None:
    assert textnorm.tokenize(a) == textnorm.tokenize(b)


NOT_NUMBERS = ["十四五", "十九大", "第十四届", "一带一路", "千万不要", "三个代表", "十二连增", "一五时期"]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_names_ordinals_and_words_stay(text: str) -> None:
    assert fold_numbers(text) == text


def test_canonical_amount_picks_one_unit() -> None:
    assert canonical_amount(1.3e12) == "13000亿" and canonical_amount(11_700_000) == "1170万"
    assert canonical_amount(7350) == "7350"


def test_best_sentence_sees_a_figure_spelled_differently() -> None:
    from indexer.marking import best_sentence

    text = "第一句讲别的事情。国内生产总值到二〇二〇年力争翻两番。第三句。"
    s, e = best_sentence(text, textnorm.tokenize("2020年 4倍"), lambda t: 1.0)
    assert text[s:e] == "国内生产总值到二〇二〇年力争翻两番。"


@pytest.mark.parametrize(
    ("text", "value"),
    [("十四", 14), ("二十一", 21), ("一百零五", 105), ("二〇二四", 2024), ("一九八○", 1980), ("一〇", 10), ("三", 3)],
)
def test_cn_int_reads_place_value_and_digit_by_digit_numerals(text, value):
    assert cn_int(text) == value


def test_cn_int_refuses_what_is_not_a_whole_number():
    assert [cn_int(t) for t in ("", "十四五", "三点五", "abc")] == [None, None, None, None]
