"""Folding (traditional->simplified, width, case) and jieba tokenisation for matching."""

from indexer import textnorm


def test_fold_maps_traditional_and_fullwidth_keeping_length():
    src = "政府工作報告：ＧＤＰ增長５％"
    folded = textnorm.fold(src)
    assert folded == "政府工作报告:gdp增长5%"
    assert len(folded) == len(src)


def test_fold_is_identity_on_simplified_text():
    text = "推动高质量发展坚持稳中求进工作总基调"
    assert textnorm.fold(text) == text
    assert textnorm.fold("，。") == ",。"  # full-width ASCII forms fold; CJK punctuation stays


def test_traditional_and_simplified_give_the_same_tokens():
    assert textnorm.tokenize("鄉村振興戰略") == textnorm.tokenize("乡村振兴战略")


def test_tokenize_drops_punctuation_and_stopwords():
    tokens = textnorm.tokenize("我们要推动经济发展，的、了！")
    assert "，" not in tokens and "的" not in tokens and "我们" not in tokens
    assert "经济" in tokens and "发展" in tokens


def test_query_terms_longest_first():
    terms = textnorm.query_terms("如何推动高质量发展")
    assert terms[0] == "高质量发展"  # kept whole by the policy dictionary
    assert "如何" not in terms
