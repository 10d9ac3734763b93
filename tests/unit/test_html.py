"""HTML: main content only (menus, banners, share bars, footers gone), headings, title, date, charset."""

from __future__ import annotations

import pytest

from indexer.chunking import chunk_document
from indexer.documents import load_document

FURNITURE = ["首页", "政策文件", "国务院常务会议", "分享到", "版权所有", "京ICP备", "var menu", "color:red", "搜索"]

PAGE = """<!DOCTYPE html>
<html><head><meta charset="{charset}">
<title>国务院关于做好防汛工作的通知_政策文件_中国政府网</title>
<meta name="PubDate" content="2024-06-12 10:30">
<link rel="canonical" href="https://www.gov.cn/zhengce/content/202406/t1.htm">
<style>.x {{ color:red }}</style><script>var menu = "首页";</script></head>
<body class="page-header-fixed">
<header><div class="logo">中国政府网</div>
  <nav><ul><li><a href="/">首页</a></li><li><a href="/zhengce">政策文件</a></li></ul></nav>
  <form><input name="q"><button>搜索</button></form></header>
<div class="breadcrumb"><a href="/">首页</a> &gt; <a>政策文件</a></div>
<div class="wrap">
 <aside><h3>相关链接</h3><ul><li><a>国务院常务会议</a></li></ul></aside>
 <div class="content">
  <h1>国务院关于做好防汛工作的通知</h1>
  <div class="share-bar">分享到：微信 微博</div>
  <p>各省、自治区、直辖市人民政府，国务院各部委、各直属机构：</p>
  <h2>一、提高思想认识</h2>
  <p>　　当前已进入主汛期，各地要切实增强防汛
  工作的责任感和紧迫感，把确保人民群众生命财产安全放在第一位。</p>
  <h2>二、落实防汛责任</h2>
  <h3>（一）压实地方责任</h3>
  <p>要严格落实以行政首长负责制为核心的防汛责任制。<br>各级防汛指挥机构要加强值班值守。</p>
  <table><tr><th>流域</th><th>责任人</th></tr><tr><td>长江流域</td><td>沿江各省省长</td></tr></table>
 </div>
</div>
<footer><p>版权所有：中国政府网 京ICP备05070218号</p></footer>
</body></html>"""


@pytest.fixture(params=["utf-8", "gb2312"])
def page(request, tmp_path):
    path = tmp_path / "notice.html"
    path.write_bytes(PAGE.format(charset=request.param).encode("gb18030" if request.param == "gb2312" else "utf-8"))
    return load_document(path)


def test_only_the_main_content_is_kept(page):
    for text in FURNITURE:
        assert text not in page.text, text
    assert page.text.split("\n") == [
        "国务院关于做好防汛工作的通知",
        "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：",
        "一、提高思想认识",
        "当前已进入主汛期，各地要切实增强防汛工作的责任感和紧迫感，把确保人民群众生命财产安全放在第一位。",
        "二、落实防汛责任",
        "（一）压实地方责任",
        "要严格落实以行政首长负责制为核心的防汛责任制。",
        "各级防汛指挥机构要加强值班值守。",
        "流域 | 责任人",
        "长江流域 | 沿江各省省长",
    ]


def test_headings_become_heading_paths(page):
    chunks = chunk_document(page, target_chars=30, max_chars=60, min_chars=5)
    assert all(page.text[c.start : c.end] == c.text for c in chunks)
    by_start = {c.text[:6]: c.heading_path for c in chunks}
    assert by_start["当前已进入主"] == ["一、提高思想认识"]
    assert by_start["要严格落实以"] == ["二、落实防汛责任", "（一）压实地方责任"]
    assert all(path[:1] != ["国务院关于做好防汛工作的通知"] for path in by_start.values())  # h1 is the title


def test_title_date_source_and_type_from_the_page(page):
    assert page.title == "国务院关于做好防汛工作的通知"
    assert page.meta["date"] == "2024-06-12" and page.meta["year"] == 2024
    assert page.meta["source"] == "https://www.gov.cn/zhengce/content/202406/t1.htm"
    assert page.meta["type"] == "notice"


def test_article_element_wins_and_its_header_h1_gives_the_title(tmp_path):
    html = """<html><head><title>站点首页 | 某某市人民政府</title></head><body>
    <div class="menu"><p>网站首页 机构设置 政务公开 办事服务 互动交流 数据开放 专题专栏 走进某市</p></div>
    <article><header><h1>某某市2023年国民经济和社会发展统计公报</h1><time datetime="2024-03-20">3月20日</time></header>
    <p>全年地区生产总值一千二百亿元，比上年增长百分之五点八。</p></article>
    <footer>主办单位：某某市人民政府办公室</footer></body></html>"""
    path = tmp_path / "a.htm"
    path.write_text(html, encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "某某市2023年国民经济和社会发展统计公报"
    assert doc.text == "全年地区生产总值一千二百亿元，比上年增长百分之五点八。"
    assert doc.meta["date"] == "2024-03-20" and doc.meta["year"] == 2024


def test_a_bare_page_without_markup_still_loads(tmp_path):
    path = tmp_path / "bare.html"
    path.write_text(
        "<p>关于印发《实施方案》的通知</p><p>现将实施方案印发给你们，请认真贯彻执行。</p>", encoding="utf-8"
    )
    doc = load_document(path)
    assert doc.text == "关于印发《实施方案》的通知\n现将实施方案印发给你们，请认真贯彻执行。"
    assert doc.title == "bare" or doc.title.startswith("关于印发")


def test_a_mislabelled_charset_falls_back_to_detection(tmp_path):
    path = tmp_path / "wrong.html"
    html = '<html><head><meta charset="utf-8"></head><body><p>各地要切实做好防汛抗旱工作。</p></body></html>'
    path.write_bytes(html.encode("gb18030"))
    doc = load_document(path)
    assert doc.text == "各地要切实做好防汛抗旱工作。" and doc.meta["encoding"] == "gb18030"
