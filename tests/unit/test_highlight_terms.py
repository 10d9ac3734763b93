"""Highlighting marks informative words only; the best sentence stays visible on its own line."""

from __future__ import annotations

from search_app import highlight


def test_stopwords_and_common_words_are_not_marked():
    idf = {"乡村振兴": 4.0, "农民": 3.0, "发展": 0.4}.get
    terms = highlight.informative_terms("国家在乡村振兴工作中如何解决农民问题和发展", lambda t: idf(t, 0.0))
    assert "乡村振兴" in terms and "农民" in terms
    assert not {"国家", "工作", "问题", "发展"} & set(terms)


def test_phrases_are_marked_whole_and_a_query_of_common_words_keeps_them():
    assert highlight.informative_terms("新质生产力", None, ("新質生產力",))[0] == "新质生产力"
    assert highlight.informative_terms("工作问题", None) != ()


def test_marks_never_hide_the_best_sentence_line():
    html = highlight.highlight("第一句。乡村振兴是第二句。", ("乡村振兴",), (4, 13))
    assert '<strong class="best"><mark>乡村振兴</mark>是第二句。</strong>' in html
