"""The search page in a real browser (Debian's chromium via Playwright) against a real waitress server.

Uses the fake engine, so it checks the web layer only: type, submit, results, shareable URL,
no script execution from passages, a usable narrow layout. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from search_app import create_app
from tests.support.browser import ARTIFACTS, MARKS
from tests.support.fakes_engine import FakeEngine
from tests.support.realindex import serve
from tests.support.settings import test_settings

pytestmark = MARKS


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """A waitress server with the fake engine on a free loopback port, in a background thread."""
    tmp = tmp_path_factory.mktemp("browser")
    app = create_app(test_settings(tmp), engine=FakeEngine(test_settings(tmp)))
    with serve(app, threads=2) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    context.close()


def test_type_query_submit_and_share_url(page, base_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(base_url + "/")
    page.fill("#q", "高质量发展")
    page.click("label.mode:has-text('关键词')")
    page.click("button[type=submit]")
    page.wait_for_selector("ol.results")

    qs = parse_qs(urlsplit(page.url).query)
    assert qs["q"] == ["高质量发展"] and qs["mode"] == ["lexical"] and qs["size"] == ["10"]
    results = page.locator("li.result")
    assert results.count() == 2
    first = results.first
    assert first.locator(".rank").inner_text() == "1"
    assert first.locator(".title a").inner_text() == "2024年政府工作报告"  # the year beside it is .year
    assert "›" in first.locator(".crumbs").inner_text()
    assert first.locator("mark").first.inner_text() == "高质量发展"
    assert "用时" in page.locator(".summary").inner_text()
    assert page.locator("input[name=mode][value=lexical]").is_checked()
    page.screenshot(path=str(ARTIFACTS / "search_results.png"), full_page=True)

    shared = page.context.new_page()  # the URL alone reproduces the results
    shared.goto(page.url)
    assert shared.locator("li.result").count() == 2
    assert shared.input_value("#q") == "高质量发展"


def test_script_in_passage_is_shown_as_text_not_run(page, base_url):
    page.goto(base_url + "/?q=学习")
    hit = page.locator("li.result").first
    assert "<script>alert('x')</script>" in hit.locator(".passage").inner_text()
    assert "<script>alert('title')</script>" in hit.locator(".title").inner_text()
    page.goto(base_url + "/?q=<img src=x onerror=alert(1)>")
    assert page.input_value("#q") == "<img src=x onerror=alert(1)>"
    assert page.dialogs == []


def test_narrow_screen_has_no_horizontal_scroll(browser, base_url):
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    pg = context.new_page()
    pg.goto(base_url + "/?q=高质量发展")
    assert pg.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "search_results_mobile.png"), full_page=True)
    context.close()


def test_friendly_messages(page, base_url):
    page.goto(base_url + "/?q=不存在的内容")
    assert "没有找到" in page.locator(".notice.empty").inner_text()
    resp = page.goto(base_url + "/?q=发展&k=0")
    assert resp.status == 400 and "请求参数有误" in page.locator(".notice.error").inner_text()
