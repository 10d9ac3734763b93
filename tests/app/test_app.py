"""The HTML pages, with a fake engine: status codes, escaping, highlighting, shareable URLs."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.errors import IndexCorruptError, IndexNotFoundError
from search_app import create_app
from search_app.highlight import highlight, match_spans, query_terms
from tests.support.fakes_engine import FakeEngine
from tests.support.settings import test_settings


def scripts_of(html: str) -> list[str]:
    """Every <script> in a page as its src ('' for an inline one)."""
    return [m.group(1) or "" for m in re.finditer(r"<script(?:\s+src=\"([^\"]*)\")?[^>]*>", html)]


def page(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "text/html"
    return resp.get_data(as_text=True)


def test_home_page_has_form_and_modes(client):
    html = page(client, "/")
    assert '<form class="search-form"' in html and 'method="get"' in html
    assert 'name="q"' in html and "搜索" in html
    for value, label in (("hybrid", "混合"), ("dense", "语义"), ("lexical", "关键词")):
        assert f'value="{value}"' in html and label in html
    assert re.search(r'value="hybrid"\s+checked', html)  # default mode preselected
    # The page works without JavaScript: only our own deferred enhancement, no inline script.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/page.js" defer>']


def test_results_show_rank_title_breadcrumb_score_and_time(client):
    html = page(client, "/?q=高质量发展&k=5&mode=lexical&details=1")
    assert "找到 <strong>2</strong> 条结果" in html
    assert "用时" in html and "毫秒" in html
    assert "2024年政府工作报告" in html
    assert (
        '<span class="crumb">一、2023年工作回顾</span><span class="sep" aria-hidden="true"> › </span>' in html
    )
    assert 'id="r1"' in html and 'id="r2"' in html
    assert "得分 0.1" in html
    assert 'value="高质量发展"' in html  # the query stays in the box
    assert re.search(r'value="lexical"\s+checked', html)
    assert re.search(r'<option value="5"\s+selected>', html)


def test_query_words_marked_and_best_sentence_emphasised(client):
    html = page(client, "/?q=高质量发展")
    assert "<mark>高质量发展</mark>" in html
    assert '<strong class="best">国内生产总值超过126万亿元，增长5.2%。</strong>' in html


def test_mode_links_keep_query_and_filters_for_sharing(client):
    html = page(client, "/?q=高质量发展&size=5&mode=hybrid&year_from=2020&type=report")
    links = re.findall(r'<a href="(/\?[^"]+)">改用(语义|关键词)</a>', html)
    assert {label for _, label in links} == {"语义", "关键词"}
    for href, _ in links:
        qs = parse_qs(urlsplit(href.replace("&amp;", "&")).query)
        assert qs["q"] == ["高质量发展"] and qs["size"] == ["5"] and qs["mode"][0] in ("dense", "lexical")
        assert qs["year_from"] == ["2020"] and qs["type"] == ["report"] and "page" not in qs


def test_script_in_passage_title_and_path_is_text(client):
    html = page(client, "/?q=学习")
    assert "<script>" not in html and "<b>要求</b>" not in html
    assert "讲话稿&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&lt;b&gt;要求&lt;/b&gt;" in html
    assert "A &amp; B" in html


def test_script_in_query_is_text(client):
    html = page(client, "/?q=<script>alert(1)</script>")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # in the box and in the no-result message


def test_query_matching_markup_is_marked_outside_entities(client):
    html = page(client, "/?q=script")
    assert "&lt;<mark>script</mark>&gt;" in html
    assert scripts_of(html) == ["/static/copy.js", "/static/page.js"]  # only our own files, never markup from a passage


def test_no_results_message(client):
    html = page(client, "/?q=不存在的内容")
    assert "没有找到与“不存在的内容”相关的内容" in html
    assert "找到 <strong>0</strong> 条结果" in html


def test_empty_query_is_a_friendly_notice(client, engine):
    html = page(client, "/?q=%20%20")
    assert "请输入要搜索的内容" in html
    assert engine.calls == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/?q=发展&k=abc", "k must be an integer"),
        ("/?q=发展&k=0", "k must be between 1 and 50"),  # k: old links, read as the page size
        ("/?q=发展&size=101", "size must be between 1 and 50"),
        ("/?q=发展&size=0", "size must be between 1 and 50"),
        ("/?q=发展&page=0", "page must be between 1"),
        ("/?q=发展&page=abc", "page must be an integer"),
        ("/?q=发展&size=50&page=3", "page 3 is past the last page"),
        ("/?q=发展&year_from=二〇二〇", "year_from must be an integer year"),
        ("/?q=发展&year_from=2024&year_to=2020", "year_from (2024) is after year_to (2020)"),
        ("/?q=发展&type=poem", "unknown document type 'poem'"),
        ("/?q=发展&doc=nope", "no document with id 'nope'"),
        ("/?q=发展&mode=fuzzy", "mode must be one of"),
        ("/?q=" + "长" * 501, "the limit is 500"),
    ],
)
def test_bad_parameters_give_400_page_with_reason(client, engine, url, reason):
    html = page(client, url, 400)
    assert "请求参数有误" in html and reason in unescape(html)
    assert 'name="q"' in html  # the form is still there to fix the query
    assert engine.calls == []


def test_each_request_checks_for_a_new_index(client, engine):
    page(client, "/?q=发展")
    page(client, "/?q=就业")
    assert engine.reload_checks == 2


def test_no_index_gives_503_page_telling_to_run_make_index(tmp_path):
    client = create_app(
        test_settings(tmp_path), engine=FakeEngine(fail_with=IndexNotFoundError("no index"))
    ).test_client()
    html = page(client, "/?q=发展", 503)
    assert "make index" in html and "搜索服务暂不可用" in html


def test_corrupt_index_is_503_not_500(tmp_path):
    client = create_app(
        test_settings(tmp_path), engine=FakeEngine(fail_with=IndexCorruptError("bad"))
    ).test_client()
    page(client, "/?q=发展", 503)


def test_unknown_page_is_friendly_404(client):
    assert "页面不存在" in page(client, "/nope", 404)


def test_static_css_is_local_and_pages_load_nothing_external(client):
    css = client.get("/static/style.css")
    assert css.status_code == 200 and b".result" in css.data
    html = page(client, "/?q=发展")
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "default-src 'none'" in client.get("/").headers["Content-Security-Policy"]


def test_page_works_with_the_real_engine_on_a_small_index(tmp_path):
    """No index -> 503; once one is written the same app serves it without a restart."""
    from tests.support.helpers import write_test_index

    settings = test_settings(tmp_path)
    client = create_app(settings).test_client()
    page(client, "/?q=高质量发展&mode=lexical", 503)
    write_test_index(settings.index_dir)
    html = page(client, "/?q=国内生产总值&mode=lexical")
    assert "2024年政府工作报告" in html and "<mark>国内生产总值</mark>" in html


# -- highlighting unit tests


def test_highlight_escapes_before_marking():
    out = str(highlight("a & b <i>amp</i>", query_terms("amp")))
    assert out == "a &amp; b &lt;i&gt;<mark>amp</mark>&lt;/i&gt;"


def test_highlight_never_marks_inside_an_entity():
    assert str(highlight("A & B", ("amp",))) == "A &amp; B"
    assert str(highlight('say "lt"', ("quot", "lt"))) == "say &#34;<mark>lt</mark>&#34;"


def test_highlight_folds_traditional_and_full_width():
    terms = query_terms("高质量发展 GDP")
    assert str(highlight("堅持推動高質量發展，ＧＤＰ增長", terms)) == (
        "堅持推動<mark>高質量發展</mark>，<mark>ＧＤＰ</mark>增長"
    )


def test_longest_term_wins_and_touching_marks_merge():
    terms = query_terms("高质量发展")
    assert match_spans("推动高质量发展", terms) == [(2, 7)]


def test_best_sentence_wraps_marks_without_breaking_nesting():
    text = "第一句。高质量发展是第二句。第三句。"
    out = str(highlight(text, query_terms("高质量发展 第三句"), (4, 14)))
    assert (
        out == '第一句。<strong class="best"><mark>高质量发展</mark>是第二句。</strong><mark>第三句</mark>。'
    )


def test_bad_best_sentence_span_is_ignored():
    assert str(highlight("abc", (), (2, 99))) == "abc"


def test_single_character_query_is_marked():
    assert "<mark>税</mark>" in str(highlight("减税降费", query_terms("税")))


def test_a_broken_new_index_version_keeps_the_old_one_serving(tmp_path):
    class Flaky(FakeEngine):
        def reload_if_changed(self) -> bool:
            raise IndexCorruptError("v2 is truncated")

    client = create_app(test_settings(tmp_path), engine=Flaky()).test_client()
    assert "2024年政府工作报告" in page(client, "/?q=发展")
