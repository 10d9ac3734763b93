"""The page as a research tool, in Debian's chromium over a REAL index (real model), served by waitress.

Phrase + exclusion, facets and the timeline for 乡村振兴, sort by date, grouped results, the weak-match
notice, similar passages across documents and the starting state; a desktop and a phone screenshot of each
go to tests/artifacts/ (research_*.png).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from indexer.config import PROJECT_ROOT
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.state import EXTENSION_KEY
from tests.support.browser import ARTIFACTS, MARKS
from tests.support.corpus import CORPUS_DIR
from tests.support.fakes_engine import FakeEngine
from tests.support.realindex import serve
from tests.support.settings import test_settings

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = MARKS


REPORTS = CORPUS_DIR / "gov-work-reports"
EXCERPT_YEARS = (2018, 2019, 2022, 2024)
WORDS = ("乡村振兴", "农业", "农村")


def excerpts(dest: Path) -> list[Path]:
    """Short real documents: the paragraphs of four government work reports that speak of rural matters
    (a few passages each, so the real model embeds them in seconds), with sidecars giving year and type."""
    paths = []
    for year in EXCERPT_YEARS:
        text = (REPORTS / f"{year}年中华人民共和国国务院政府工作报告.txt").read_text(encoding="utf-8")
        paras = [p.strip() for p in text.split("\n") if any(w in p for w in WORDS) and len(p.strip()) > 30]
        paras = sorted(paras, key=lambda p: "乡村振兴" not in p)[:4]  # stable: rural revitalisation first
        path = dest / f"{year}年政府工作报告（节选）.txt"
        path.write_text("\n".join(paras), encoding="utf-8")
        path.with_name(path.stem + ".meta.json").write_text(json.dumps({"year": year, "type": "report"}), "utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, real_model_dir):
    tmp = tmp_path_factory.mktemp("research")
    (tmp / "docs").mkdir()
    settings = test_settings(index_dir=tmp / "index", model=str(real_model_dir))
    report = build_index([PROJECT_ROOT / "seeds", *excerpts(tmp / "docs")], settings)
    assert not report.errors, report.errors
    engine = SearchEngine.open(settings)
    engine.warm_up()
    with serve(create_app(settings, engine=engine), threads=4) as url:
        yield url


@pytest.fixture(params=list(VIEWPORTS))
def page(request, browser):
    ctx = browser.new_context(locale="zh-CN", viewport=VIEWPORTS[request.param])
    pg = ctx.new_page()
    pg.viewport_name = request.param
    yield pg
    ctx.close()


def search(page, base_url: str, **args) -> None:
    page.goto(f"{base_url}/?{urlencode(args, doseq=True)}")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"research_{name}_{page.viewport_name}.png"), full_page=True)


def passages(page) -> list[str]:
    return page.locator("li.result .passage").all_inner_texts()


def test_phrase_and_exclusion(page, base_url):
    search(page, base_url, q='"乡村振兴" -脱贫')
    texts = passages(page)
    assert texts and all("乡村振兴" in t and "脱贫" not in t for t in texts)
    assert "必须包含“乡村振兴”；排除“脱贫”" in page.locator(".understood").inner_text()
    assert page.locator("li.result mark", has_text="乡村振兴").count() >= 1
    shot(page, "phrase_exclusion")


def test_facets_and_timeline_for_rural_revitalisation(page, base_url):
    search(page, base_url, q='"乡村振兴"')
    total = int(page.locator(".summary .total strong").first.inner_text())
    years = page.locator(".facet-year li")
    assert total >= 2 and years.count() >= 2
    assert sum(int(c) for c in page.locator(".facet-year .count").all_inner_texts()) == total
    svg = page.locator("svg.timeline")
    assert svg.count() == 1 and svg.locator("rect.bar").count() >= 2
    assert "最早出现于" in page.locator(".timeline-box figcaption").inner_text()
    shot(page, "facets_timeline")
    year = years.first.locator("a").inner_text()
    years.first.locator("a").click()  # a facet narrows the search to that year
    qs = parse_qs(urlsplit(page.url).query)
    assert qs["year_from"] == [year] and qs["year_to"] == [year]
    assert all(y.startswith(year) for y in page.locator("li.result .title .year").all_inner_texts())


def test_sort_by_date(page, base_url):
    search(page, base_url, q='"乡村振兴"')
    page.locator("a.sort", has_text="最新在前").click()
    assert parse_qs(urlsplit(page.url).query)["sort"] == ["newest"]
    years = [int(re.match(r"\d{4}", y).group()) for y in page.locator("li.result .title .year").all_inner_texts()]
    assert years == sorted(years, reverse=True) and len(set(years)) >= 2
    shot(page, "sort_newest")


def test_grouped_results(page, base_url):
    search(page, base_url, q="乡村振兴 农业", mode="lexical", group=1)
    titles = page.locator("li.result .title a").all_inner_texts()
    assert titles and len(titles) == len(set(titles))  # one passage per document
    more = page.locator("a.more-in-doc")
    assert more.count() >= 1 and "本文档还有" in more.first.inner_text()
    shot(page, "grouped")
    more.first.click()
    assert "doc" in parse_qs(urlsplit(page.url).query)


def test_weak_match_notice(page, base_url):
    search(page, base_url, q="量子色动力学中夸克禁闭的渐近自由机制", mode="dense")
    assert "没有找到与问题密切相关的段落" in page.locator(".weak-notice").inner_text()
    assert page.locator("li.result").count() >= 1  # the nearest passages are still listed
    shot(page, "weak_match")


def test_similar_passages_across_documents(page, base_url):
    search(page, base_url, q='"乡村振兴"', sort="oldest")
    page.locator("li.result a.to-similar").first.click()
    page.wait_for_selector("ol.results")
    titles = page.locator("li.result .title").all_inner_texts()
    source = page.locator(".source-passage .title a").inner_text()
    assert titles and sum(source not in t for t in titles) >= min(3, len(titles))  # other documents first
    page.locator("a.same-document").click()
    assert all(source in t for t in page.locator("li.result .title").all_inner_texts())
    shot(page, "similar")


def test_starting_state(browser, tmp_path):
    app = create_app(test_settings(tmp_path), engine=FakeEngine(test_settings(tmp_path)))
    app.extensions[EXTENSION_KEY].begin_warm_up()
    with serve(app, threads=2) as url:
        for name, viewport in VIEWPORTS.items():
            ctx = browser.new_context(locale="zh-CN", viewport=viewport)
            pg = ctx.new_page()
            resp = pg.goto(url + "/?q=乡村振兴")
            assert resp.status == 503 and "正在加载" in pg.locator(".loading").inner_text()
            pg.viewport_name = name
            shot(pg, "starting")
            health = pg.request.get(url + "/api/health")
            assert health.status == 503 and health.json()["status"] == "starting"
            ctx.close()
        app.extensions[EXTENSION_KEY].end_warm_up()
        ctx = browser.new_context(locale="zh-CN")
        pg = ctx.new_page()
        assert pg.goto(url + "/?q=发展").status == 200
        ctx.close()
