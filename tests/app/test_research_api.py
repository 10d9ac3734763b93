"""The query language, counts, facets, sort and grouping through the JSON API, the page and the batch CLI
(real SearchEngine over a hand-made index, fake embedder)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from indexer.config import Settings
from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.cli import main as cli_main
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import write_test_index

DOCS = {
    "gwr-2016": (
        "2016年政府工作报告",
        {"year": 2016, "type": "report"},
        [(["一"], "促进房地产市场平稳健康发展。"), (["二"], "加强房地产市场调控。")],
    ),
    "gwr-2024": (
        "2024年政府工作报告",
        {"year": 2024, "type": "report"},
        [(["一"], "加快发展新质生产力。"), (["二"], "优化房地产政策。"), (["三"], "发展新质生产力，推进乡村振兴。")],
    ),
    "speech-2021": ("学习发言", {"year": 2021, "type": "speech"}, [(["一"], "全面推进乡村振兴。")]),
}


@pytest.fixture
def settings(tmp_path):
    write_test_index(tmp_path / "index", passages=DOCS)
    return Settings.from_env(env={}, index_dir=tmp_path / "index")


@pytest.fixture
def client(settings):
    engine = SearchEngine.open(settings, FakeEmbedder())
    return create_app(settings, engine=engine).test_client()


def api(client, **args):
    resp = client.get("/api/search", query_string=args)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_api_exclusion_and_phrase(client, mode):
    body = api(client, q="房地产 -调控", mode=mode)
    assert body["results"] and not any("调控" in r["text"] for r in body["results"])
    body = api(client, q='"新质生产力"', mode=mode)
    assert body["total"] == 2 and all("新质生产力" in r["text"] for r in body["results"])
    assert api(client, q='"新质生产力"', mode=mode, year_to=2023)["results"] == []


def test_api_counts_facets_timeline(client):
    body = api(client, q='"房地产"', k=1)
    assert (body["total"], body["total_relation"], body["documents_total"]) == (3, "eq", 2)
    assert {f["value"]: f["count"] for f in body["facets"]["year"]} == {2016: 2, 2024: 1}
    assert body["facets"]["type"] == [{"value": "report", "count": 3}]
    assert body["timeline"]["first_year"] == 2016 and len(body["timeline"]["years"]) == 9
    assert body["parsed"]["phrases"] == ["房地产"] and "必须包含" in body["parsed"]["understood"]


def test_api_sort_group_offset(client):
    body = api(client, q='"房地产"', sort="newest")
    assert [r["meta"]["year"] for r in body["results"]] == [2024, 2016, 2016]
    body = api(client, q='"房地产"', group="1", sort="oldest")
    assert [(r["doc_id"], r["more_in_doc"]) for r in body["results"]] == [("gwr-2016", 1), ("gwr-2024", 0)]
    body = api(client, q='"房地产"', sort="oldest", offset=1, k=1)
    assert [r["rank"] for r in body["results"]] == [2]


@pytest.mark.parametrize("args", [{"sort": "random"}, {"group": "maybe"}, {"offset": "-1"}, {"offset": "x"}])
def test_api_bad_ordering_parameters_are_400(client, args):
    resp = client.get("/api/search", query_string={"q": "房地产", **args})
    assert resp.status_code == 400 and resp.get_json()["error"]


@pytest.mark.parametrize("q", ['"新质生产力', "OR", "-", "year:abc", '""', "type:小说 乡村振兴", "a OR -b"])
def test_odd_syntax_never_errors_and_says_how_it_was_read(client, q):
    body = api(client, q=q)
    assert "parsed" in body
    html = client.get("/", query_string={"q": q}).get_data(as_text=True)
    assert 'class="results-section"' in html


def test_page_says_how_the_query_was_understood_and_links_facets(client):
    html = client.get("/", query_string={"q": '"房地产" -调控 year:2010..2024'}).get_data(as_text=True)
    assert "检索条件：必须包含“房地产”；排除“调控”；年份 2010–2024" in html
    assert "共 <strong>2</strong> 段，来自 <strong>2</strong> 篇文档" in html
    assert 'class="timeline"' in html and "year_from=2016&amp;year_to=2016" in html
    assert "<mark>房地产</mark>" in html


def test_batch_api_and_cli_use_the_same_language(client, settings, capsys):
    resp = client.post("/api/search/batch", json={"queries": ["房地产 -调控", '"乡村振兴"'], "sort": "oldest"})
    first, second = resp.get_json()["results"]
    assert not any("调控" in r["text"] for r in first["results"]) and second["total"] == 2
    out = io.StringIO()
    code = cli_main(
        ["query", "--index", str(settings.index_dir), "--format", "jsonl", "--sort", "newest", '"乡村振兴"'],
        stdout=out,
        open_engine=lambda s: SearchEngine.open(s, FakeEmbedder()),
    )
    assert code == 0
    line = json.loads(out.getvalue())
    assert line["total"] == 2 and [r["meta"]["year"] for r in line["results"]] == [2024, 2021]
    out = io.StringIO()
    cli_main(
        ["query", "--index", str(settings.index_dir), "--format", "csv", "房地产 -调控"],
        stdout=out,
        open_engine=lambda s: SearchEngine.open(s, FakeEmbedder()),
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows and not any("调控" in r["passage"] for r in rows)


def test_page_csv_names_carry_query_and_date_and_differ(client):
    from datetime import date

    page_csv = client.get("/export.csv", query_string={"q": '"房地产"', "size": 1, "page": 2})
    all_csv = client.get("/export.csv", query_string={"q": '"房地产"', "all": 1})
    names = [r.headers["Content-Disposition"] for r in (page_csv, all_csv)]
    today = date.today().isoformat()
    assert all(today in n and "%E6%88%BF%E5%9C%B0%E4%BA%A7" in n for n in names)  # 房地产
    assert names[0] != names[1]
    rows = list(csv.DictReader(io.StringIO(page_csv.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r["rank"] for r in rows] == ["2"] and rows[0]["link"].startswith("http://localhost/doc/")
    assert rows[0]["year"] and rows[0]["best_sentence"] and rows[0]["type"] == "report"


def test_page_errors_are_chinese_and_api_adds_a_chinese_message(client):
    html = client.get("/", query_string={"q": "房地产", "year_from": 2020, "year_to": 2010}).get_data(as_text=True)
    assert "起始年份（2020）晚于截止年份（2010）" in html
    body = client.get("/api/search", query_string={"q": "房地产", "sort": "random"}).get_json()
    assert body["error"].startswith("sort must be one of") and body["message"].startswith("排序方式只能是")


def test_document_filter_grouped_by_type_newest_first(client):
    html = client.get("/").get_data(as_text=True)
    assert html.index('<optgroup label="讲话">') < html.index('<optgroup label="报告">')  # vocabulary order
    assert html.index("2024 · 2024年政府工作报告") < html.index("2016 · 2016年政府工作报告")
    assert 'data-filters="doc-select"' in html  # the type-to-filter box (shown by page.js)


def test_similar_page_switches_to_the_same_document(client):
    html = client.get("/similar/gwr-2024%230").get_data(as_text=True)
    assert "其他文档中的相似段落" in html and 'class="same-document"' in html
    html = client.get("/similar/gwr-2024%230?same_document=1").get_data(as_text=True)
    titles = [t for t in ("2016年政府工作报告", "学习发言") if f">{t}</a>" in html]
    assert "本文档内的相似段落" in html and titles == []


def test_scores_and_ids_only_in_the_optional_details_line(client):
    html = client.get("/", query_string={"q": '"房地产"'}).get_data(as_text=True)
    assert "gwr-2016#0" not in html and 'class="details"' not in html and "显示得分与编号" in html
    html = client.get("/", query_string={"q": '"房地产"', "details": 1}).get_data(as_text=True)
    assert '<span class="chunk-id">gwr-2016#0</span>' in html and "得分 " in html
    html = client.get("/", query_string={"q": '"房地产"', "size": 1, "page": 2}).get_data(as_text=True)
    assert "第 2 页，共 3 页" in html and "共 <strong>3</strong> 段" in html


def test_english_switch_for_interface_labels(client):
    html = client.get("/", query_string={"q": '"房地产"', "lang": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in html and ">Search</button>" in html and "Newest first" in html
    assert "2016年政府工作报告" in html  # documents stay as written
    html = client.get("/", query_string={"q": '"房地产"'}).get_data(as_text=True)  # remembered (cookie)
    assert ">Search</button>" in html and 'hreflang="zh"' in html
    html = client.get("/", query_string={"q": '"房地产"', "lang": "zh"}).get_data(as_text=True)
    assert ">搜索</button>" in html and "最新在前" in html
