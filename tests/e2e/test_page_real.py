"""The page in a real browser over a REAL index (real model), served by waitress on loopback.

Covers search, filters, paging, the document view (hit passage scrolled into view), similar
passages, the copy-link button, CSV export (downloaded and read back) and the page without
JavaScript. Screenshots (desktop and phone) are saved to tests/artifacts/.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.output import CSV_COLUMNS
from tests.support.browser import ARTIFACTS, MARKS
from tests.support.realindex import real_index, serve

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
QUESTION = "怎样防范意识形态领域的风险隐患"

pytestmark = MARKS


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, real_model_dir):
    settings = real_index(tmp_path_factory.mktemp("page-real"), real_model_dir)
    engine = SearchEngine.open(settings)
    engine.warm_up()
    with serve(create_app(settings, engine=engine), threads=4) as url:
        yield url


@pytest.fixture
def context(browser, base_url):
    ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP, accept_downloads=True)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    yield ctx
    ctx.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=name.endswith("_full.png"))


def in_viewport(page, selector: str) -> bool:
    return page.eval_on_selector(
        selector,
        "el => { const r = el.getBoundingClientRect();"
        " return r.top >= 0 && r.top < window.innerHeight && r.bottom > 0; }",
    )


def test_search_then_document_view_with_hit_in_view(context, base_url):
    page = context.new_page()
    page.goto(base_url + "/")
    page.fill("#q", QUESTION)
    page.click("button[type=submit]")
    page.wait_for_selector("ol.results")
    assert page.locator("li.result").count() == 10
    first = page.locator("li.result").first
    assert "意识形态" in first.locator(".crumbs").inner_text()  # the point that answers it
    shot(page, "real_search_desktop.png")

    first.locator("a.to-doc").click()
    page.wait_for_selector(".chunk.hit")
    assert "/doc/" in page.url and urlsplit(page.url).fragment.startswith("p")
    hit = page.locator(".chunk.hit")
    assert hit.count() == 1 and page.eval_on_selector(".chunk.hit", "el => el.matches(':target')")
    assert in_viewport(page, ".chunk.hit")  # scrolled there by the anchor, no script needed
    assert hit.locator("mark").count() >= 1  # query terms marked in the hit
    assert page.locator(".outline li").count() >= 5 and page.locator(".outline li.current").count() == 1
    assert not in_viewport(page, "#p0") or hit.get_attribute("id") == "p0"
    shot(page, "real_document_desktop.png")

    page.click(".outline li >> nth=0 >> a")  # the side navigation jumps to the first section
    target = page.evaluate("location.hash")
    assert in_viewport(page, target)


def test_filters_and_paging(context, base_url):
    page = context.new_page()
    page.goto(base_url + "/?" + urlencode({"q": "政府工作报告", "size": 5}))
    assert page.locator("li.result").count() == 5
    page.click("details.filters > summary")
    page.check("input[name=type][value=resolution]")
    page.click("button[type=submit]")
    page.wait_for_selector("ol.results")
    qs = parse_qs(urlsplit(page.url).query)
    assert qs["type"] == ["resolution"] and qs["size"] == ["5"]
    labels = page.locator("li.result .doc-type").all_inner_texts()
    assert labels and set(labels) == {"决议"}  # only resolutions left (2 docs, 4 passages)

    page.goto(base_url + "/?" + urlencode({"q": QUESTION, "size": 5}))
    page.click("a.next")
    page.wait_for_selector("ol.results")
    assert parse_qs(urlsplit(page.url).query)["page"] == ["2"]
    ranks = page.locator("li.result .rank").all_inner_texts()
    assert ranks == ["6", "7", "8", "9", "10"]
    page.click("a.prev")
    assert page.locator("li.result .rank").first.inner_text() == "1"

    docs = page.locator("select[name=doc] option").all_text_contents()
    assert docs[0] == "全部文档" and len(docs) == 4 and any("决议" in d for d in docs)
    page.click("details.filters > summary")
    page.select_option("select[name=doc]", index=2)
    page.click("button[type=submit]")
    page.wait_for_selector(".results-section")
    chosen = parse_qs(urlsplit(page.url).query)["doc"][0]
    titles = {t.strip() for t in page.locator("li.result .title a").all_inner_texts()}
    assert chosen and titles == {docs[2].split(" · ")[-1]}  # only passages of the chosen document ("2024 · title")
    shot(page, "real_filtered_desktop.png")


def test_similar_passages_and_copy_link(context, base_url):
    page = context.new_page()
    page.goto(base_url + "/?" + urlencode({"q": QUESTION, "size": 5}))
    permalink = page.locator("a.permalink").first.get_attribute("href")
    page.locator("button.copy-link").first.click()
    page.wait_for_function("document.querySelector('button.copy-link').textContent !== '复制'")
    copied = page.locator("button.copy-link").first.get_attribute("data-copied")
    assert copied == base_url + permalink
    if page.locator("button.copy-link").first.inner_text() == "已复制":
        assert page.evaluate("navigator.clipboard.readText()") == copied

    page.locator("a.to-similar").first.click()
    page.wait_for_selector(".source-passage")
    assert "相似段落" in page.title() and page.locator("li.result").count() >= 5
    shot(page, "real_similar_desktop.png")


def test_csv_export_download(context, base_url):
    page = context.new_page()
    page.goto(base_url + "/?" + urlencode({"q": QUESTION, "size": 5, "page": 2}))
    with page.expect_download() as info:
        page.click("a.export")
    download = info.value
    raw = Path(download.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[1] for r in rows[1:]] == ["6", "7", "8", "9", "10"] and {r[0] for r in rows[1:]} == {QUESTION}
    assert download.suggested_filename.endswith(".csv")


def test_without_javascript_search_and_permalinks_still_work(browser, base_url):
    ctx = browser.new_context(locale="zh-CN", viewport=DESKTOP, java_script_enabled=False)
    page = ctx.new_page()
    page.goto(base_url + "/")
    page.fill("#q", "文明城市创建")
    page.click("button[type=submit]")
    page.wait_for_selector("ol.results")
    assert page.locator("button.copy-link").count() == 0  # no enhancement, plain links
    href = page.locator("a.permalink").first.get_attribute("href")
    page.goto(base_url + href)
    assert in_viewport(page, "#" + urlsplit(href).fragment)
    ctx.close()


def test_phone_layout(browser, base_url):
    ctx = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = ctx.new_page()
    page.goto(base_url + "/?" + urlencode({"q": QUESTION, "size": 5}))
    no_hscroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    assert page.evaluate(no_hscroll)
    shot(page, "real_search_phone.png")
    page.locator("a.to-doc").first.click()
    page.wait_for_selector(".chunk.hit")
    assert page.evaluate(no_hscroll) and in_viewport(page, ".chunk.hit")
    shot(page, "real_document_phone.png")
    ctx.close()
