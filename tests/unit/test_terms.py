"""The policy-term dictionary keeps fixed terms whole, and the builder finds quoted terms."""

import jieba
import pytest

from indexer import textnorm
from indexer.config import Settings
from indexer.tools import terms

MUST_STAY_WHOLE = [
    "两个确立",
    "两个维护",
    "四个意识",
    "四个自信",
    "十个坚持",
    "国之大者",
    "融媒体",
    "意识形态",
    "乡村振兴",
    "高质量发展",
    "供给侧结构性改革",
]


@pytest.mark.parametrize("term", MUST_STAY_WHOLE)
def test_dictionary_keeps_policy_terms_whole(term):
    sentence = f"我们要深刻把握{term}的要求"
    assert term in textnorm.segment(sentence)


def test_dictionary_changes_segmentation():
    sentence = "深刻认识两个确立的决定性意义，增强四个意识，推进供给侧结构性改革"
    plain = jieba.Tokenizer()  # jieba without the policy dictionary
    assert "两个确立" not in plain.lcut(sentence)
    assert "供给侧结构性改革" not in plain.lcut(sentence)
    assert {"两个确立", "四个意识", "供给侧结构性改革"} <= set(textnorm.segment(sentence))


def test_traditional_term_is_kept_whole_after_folding():
    assert "两个确立" in textnorm.segment("深刻認識兩個確立")


def test_quoted_terms_need_two_occurrences_and_skip_numerals():
    texts = ["坚持“放管服”改革，“放管服”要深化", "“十五”计划", "“十五”期间", "“一次性”"]
    found = terms.quoted_terms(texts)
    assert found["放管服"] == 2
    assert "十五" not in found and "一次性" not in found


def test_committed_dictionary_matches_builder(tmp_path):
    out = tmp_path / "terms.txt"
    terms.write_terms(terms.build_terms([terms.DATA_DIR / "corpus", terms.PROJECT_ROOT / "seeds"]), out)
    assert out.read_text(encoding="utf-8") == Settings().terms_file.read_text(encoding="utf-8")
