"""Filters, paging, document view, similar passages, permalinks and CSV export (fake engine, no model)."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from indexer.filters import Filters
from indexer.metadata import DEFAULT_COLLECTION
from indexer.models import Chunk
from search_app import cli, create_app, params
from search_app.docview import display_source, outline, segments
from search_app.output import CSV_COLUMNS
from search_app.views import chunk_anchor
from tests.support.fakes_engine import FakeEngine
from tests.support.settings import test_settings

MANY = [(f"doc-{i % 3}", f"文档{i % 3}", [f"第{i}节"], f"发展第{i}段。内容。", {"year": 2020 + i % 3, "type": "report"})
        for i in range(30)]


def get(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:800]
    return resp.get_data(as_text=True)


def hrefs(html: str, cls: str) -> list[str]:
    return [unescape(h) for h in re.findall(rf'<a class="{cls}"[^>]*href="([^"]+)"', html)]


# -- filters


def test_filters_reach_the_engine_from_page_api_and_batch(client, engine):
    get(client, "/?q=发展&year_from=2021&year_to=2024&type=report,speech&type=notice&doc=gwr-2024")
    get(client, "/api/search?q=发展&year_from=2021&type=report")
    batch = {"queries": ["发展"], "year_to": 2023, "type": ["speech"], "doc": "speech-xss"}
    client.post("/api/search/batch", json=batch)
    pub = frozenset({DEFAULT_COLLECTION})  # anonymous readers: the public collection only
    assert engine.filters_seen == [
        Filters(
            doc_ids=("gwr-2024",), year_from=2021, year_to=2024, doc_types=("report", "speech", "notice"), readable=pub
        ),
        Filters(year_from=2021, doc_types=("report",), readable=pub),
        Filters(doc_ids=("speech-xss",), year_to=2023, doc_types=("speech",), readable=pub),
    ]


def test_filters_change_results_and_controls_keep_their_values(client):
    html = get(client, "/?q=发展&type=speech&year_from=2021")
    assert "讲话稿" in html and "2024年政府工作报告</a>" not in html  # only the 2021 speech is left
    assert re.search(r'value="speech"\s+checked', html) and 'name="year_from"' in html and 'value="2021"' in html
    assert "<details class=\"filters\" open>" in html
    html = get(client, "/?q=发展&doc=speech-trad")
    assert re.search(r'<option value="speech-trad" data-title="[^"]*"\s+selected>2020 · 繁體講話</option>', html)
    assert "没有找到" in html and "取消筛选条件" in html


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("year_from=abc", "year_from must be an integer year"),
        ("year_to=2020.5", "year_to must be an integer year"),
        ("year_from=0", "year_from must be a year between 1 and 9999"),
        ("year_from=2022&year_to=2021", "year_from (2022) is after year_to (2021)"),
        ("type=poem", "unknown document type 'poem'"),
        ("doc=nope", "no document with id 'nope'"),
        ("doc=" + "x" * 301, "ids are at most 300"),
        ("type=" + ",".join(["report"] * 51), "too many type filters"),
    ],
)
def test_bad_filters_are_400_with_reason(client, engine, query, reason):
    resp = client.get("/api/search?q=发展&" + query)
    assert resp.status_code == 400 and reason in resp.get_json()["error"]
    assert reason in unescape(get(client, "/?q=发展&" + query, 400))
    assert engine.calls == []


def test_batch_filters_are_validated(client):
    resp = client.post("/api/search/batch", json={"queries": ["发展"], "year_from": "x"})
    assert resp.status_code == 400 and "year_from must be an integer year" in resp.get_json()["error"]
    resp = client.post("/api/search/batch", json={"queries": ["发展"], "type": [3]})
    assert resp.status_code == 400 and "filter values must be strings" in resp.get_json()["error"]


def test_cli_filters(tmp_path, monkeypatch):
    monkeypatch.delenv("POLICY_SEARCH_INDEX_DIR", raising=False)
    engine = FakeEngine()

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(["query", *argv], stdout=out, stderr=err, open_engine=lambda s: engine)
        return code, out.getvalue(), err.getvalue()

    code, out, err = run("发展", "--format", "jsonl", "--year-from", "2021", "--type", "speech,report", "--type",
                         "notice", "--doc", "speech-xss")
    assert code == 0, err
    assert engine.filters_seen[-1] == Filters(("speech-xss",), 2021, None, ("speech", "report", "notice"))
    assert {r["doc_id"] for r in json.loads(out)["results"]} == {"speech-xss"}
    for argv, reason in [
        (("--year-from", "abc"), "year_from must be an integer year"),
        (("--year-from", "2024", "--year-to", "2020"), "is after year_to"),
        (("--type", "poem"), "unknown document type 'poem'"),
        (("--doc", "missing"), "no document with id 'missing'"),
    ]:
        code, _, err = run("发展", *argv)
        assert code == 2 and reason in err


# -- paging


def test_paging_fetches_page_times_size_and_links_prev_next(tmp_path):
    engine = FakeEngine(passages=MANY)
    client = create_app(test_settings(tmp_path), engine=engine).test_client()
    html = get(client, "/?q=发展&size=10&page=2&mode=lexical")
    assert engine.calls[-1] == ("search_many", ["发展"], 11, "lexical")  # one extra: is there a next page?
    assert 'id="r11"' in html and 'id="r20"' in html and 'id="r10"' not in html
    assert "第 <strong>11–20</strong> 条结果" in html
    prev_ = parse_qs(urlsplit(hrefs(html, "prev")[0]).query)
    next_ = parse_qs(urlsplit(hrefs(html, "next")[0]).query)
    assert "page" not in prev_ and next_["page"] == ["3"] and next_["size"] == ["10"] and next_["q"] == ["发展"]
    html = get(client, "/?q=发展&size=10&page=3")
    assert 'id="r30"' in html and "next disabled" in html  # 30 hits: the third page is the last


def test_k_is_capped_at_max_k(tmp_path):
    engine = FakeEngine(passages=MANY)
    client = create_app(test_settings(tmp_path, max_k=25, max_page_size=10), engine=engine).test_client()
    html = get(client, "/?q=发展&size=10&page=3")
    assert engine.calls[-1][2] == 5  # from offset 20, capped at max_k
    assert 'id="r25"' in html and 'id="r26"' not in html and "next disabled" in html
    assert "page 4 is past the last page" in unescape(get(client, "/?q=发展&size=10&page=4", 400))
    assert "size must be between 1 and 10" in get(client, "/?q=发展&size=11", 400)


def test_parse_paging_rules():
    s = test_settings(Path("/nonexistent"))
    assert params.parse_paging({}, s) == params.Paging(1, 10, 10)
    assert params.parse_paging({"page": "3", "size": "20"}, s) == params.Paging(3, 20, 60)
    assert params.parse_paging({"k": "5"}, s).size == 5  # older links
    assert params.parse_paging({"page": "4", "size": "30"}, s).k == 100
    for bad in ({"page": "0"}, {"page": "-1"}, {"size": "10000"}, {"size": "abc"}, {"page": "１"}):
        with pytest.raises(params.QueryError):
            params.parse_paging(bad, s)


# -- result links, permalinks, export


def test_each_result_links_to_document_view_similar_and_permalink(client):
    html = get(client, "/?q=高质量发展")
    doc = hrefs(html, "to-doc")[0]
    assert doc == "/doc/gwr-2024?hit=gwr-2024%230&q=%E9%AB%98%E8%B4%A8%E9%87%8F%E5%8F%91%E5%B1%95#p0"
    assert hrefs(html, "to-similar")[0] == "/similar/gwr-2024%230"
    assert hrefs(html, "permalink")[0] == "/doc/gwr-2024#p0"
    assert 'data-copy' in html and '<script src="/static/copy.js" defer></script>' in html
    js = client.get("/static/copy.js")
    assert js.status_code == 200 and b"clipboard" in js.data


def test_export_csv_has_bom_and_the_cli_columns(client):
    resp = client.get("/export.csv?q=高质量发展&size=1&page=2&mode=lexical")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[1] for r in rows[1:]] == ["2"]  # the rows of page 2 only, ranks kept
    everything = list(csv.reader(io.StringIO(client.get("/export.csv?q=高质量发展&all=1").data.decode("utf-8-sig"))))
    assert [r[1] for r in everything[1:]] == ["1", "2"]
    html = get(client, "/?q=高质量发展&size=1&page=2")
    export = parse_qs(urlsplit(hrefs(html, "export")[0]).query)
    assert export == {"q": ["高质量发展"], "mode": ["hybrid"], "size": ["1"], "page": ["2"]}
    assert client.get("/export.csv?q=").status_code == 400
    assert client.get("/export.csv?q=发展&year_from=x").status_code == 400


# -- document view


def test_document_view_renders_every_passage_with_anchor_hit_and_outline(client):
    html = get(client, "/doc/gwr-2024?hit=gwr-2024%231&q=高质量发展")
    assert '<h1 id="doc-title">2024年政府工作报告</h1>' in html
    assert 'id="p0"' in html and re.search(r'class="chunk hit" id="p1"', html)
    assert "推动<mark>高质量发展</mark>。" in html  # query marked in the hit passage only
    assert "推动高质量发展取得新进展" in html
    nav = html.split('aria-label="文档目录"')[1].split("</nav>")[0]
    assert re.findall(r'<a href="#(p\d+)">([^<]+)</a>', nav) == [
        ("p0", "一、2023年工作回顾"), ("p0", "（一）经济运行"), ("p1", "二、2024年主要目标")
    ]
    assert 'class="depth-1 current"' in nav
    assert "<dt>类型</dt><dd>报告</dd>" in html and "<dt>日期</dt><dd>2024</dd>" in html
    assert 'name="doc" value="gwr-2024"' in html  # search within this document
    assert ":target" in client.get("/static/style.css").get_data(as_text=True)


def test_unknown_document_and_passage_are_404(client):
    assert "没有找到这篇文档" in get(client, "/doc/nope", 404)
    assert "没有找到这个段落" in get(client, "/similar/nope%230", 404)
    assert client.get("/doc/" + "a" * 301).status_code == 400


def test_similar_page_and_api(client, engine):
    html = get(client, "/similar/gwr-2024%231?k=2")
    assert "相似段落" in html and "国内生产总值增长5%左右" in html  # the source passage is shown
    assert html.count('class="result"') == 2 and "gwr-2024#1</span>" not in html
    body = client.get("/api/similar?chunk_id=gwr-2024%231&k=2&type=report").get_json()
    assert body["mode"] == "similar" and [r["chunk_id"] for r in body["results"]] == ["gwr-2024#0"]
    assert engine.filters_seen[-1] == Filters(doc_types=("report",), readable=frozenset({DEFAULT_COLLECTION}))
    assert client.get("/api/similar?chunk_id=nope").status_code == 404
    assert "chunk_id is required" in client.get("/api/similar").get_json()["error"]
    assert "k must be" in client.get("/api/similar?chunk_id=gwr-2024%231&k=0").get_json()["error"]
    assert client.get("/similar/gwr-2024%231?k=abc").status_code == 400


# -- docview units


def _chunk(i: int, path: list[str], text: str, start: int) -> Chunk:
    return Chunk(f"d#{i}", "d", "T", path, text, start, start + len(text), ordinal=i)


def test_segments_keep_heading_lines_between_passages_and_lose_nothing():
    text = "导语。\n一、总体要求\n正文一。\n（一）细则\n正文二。\n结语"
    chunks = [_chunk(0, [], "导语。", 0), _chunk(1, ["一、总体要求"], "正文一。", text.index("正文一")),
              _chunk(2, ["一、总体要求", "（一）细则"], "正文二。", text.index("正文二"))]
    segs = segments(text, chunks, "d#1", ())
    assert [(s.kind, str(s.html), s.depth) for s in segs] == [
        ("chunk", "导语。", 0), ("heading", "一、总体要求", 1), ("chunk", "正文一。", 0),
        ("heading", "（一）细则", 2), ("chunk", "正文二。", 0), ("text", "结语", 0),
    ]
    assert [s.is_hit for s in segs if s.kind == "chunk"] == [False, True, False]
    entries = [(e.label, e.depth, e.anchor) for e in outline(chunks)]
    assert entries == [("一、总体要求", 1, "p1"), ("（一）细则", 2, "p2")]


def test_anchor_and_source_helpers():
    assert chunk_anchor("doc#12") == "p12"
    assert re.fullmatch(r"p-[0-9a-f]{12}", chunk_anchor("weird id <x>"))
    assert display_source("/srv/data/uploads/a.txt") == "a.txt"
    assert display_source("C:\\docs\\b.md") == "b.md"
    assert display_source("新华社") == "新华社"
