"""Collections and sign-in in a real browser (Debian's chromium) over a real index (real model), served by waitress.

Sign-in, switching collections, a read-only collection (no export link, no copy button) and the admin page.
Screenshots go to tests/artifacts/ (access_*.png).
"""

from __future__ import annotations

import pytest

from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.audit import AuditLog
from tests.support import accessworld as w
from tests.support.browser import ARTIFACTS, MARKS
from tests.support.realindex import serve

pytestmark = MARKS

TITLES = {d: title for d, (title, _, _) in w.PASSAGES.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, real_model_dir):
    return w.build_real(tmp_path_factory.mktemp("access-real"), real_model_dir)


@pytest.fixture(scope="module")
def base_url(world):
    engine = SearchEngine.open(world.settings)
    engine.warm_up()
    with serve(create_app(world.settings, engine=engine), threads=4) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context.new_page()
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def titles(page) -> set[str]:
    return {t.strip() for t in page.locator("li.result h2.title a").all_inner_texts()}


def sign_in(page, base_url: str, name: str) -> None:
    page.goto(base_url + "/")
    page.click("a.signin-link")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", w.PASSWORD)
    page.click(".signin-form button[type=submit]")
    page.wait_for_selector(f".account .user:has-text('{name}')")


def search(page, base_url: str, query: str = w.QUERY) -> None:
    page.goto(base_url + "/")
    page.fill("#q", query)
    page.select_option("select[name=size]", "50")
    page.click(".search-row button[type=submit]")
    page.wait_for_selector("section.results-section")


def test_sign_in_then_switch_collections(page, base_url):
    search(page, base_url)
    assert titles(page) == {TITLES["open1"]}  # anonymous: the public collection only
    assert page.locator("fieldset.collections").count() == 0
    sign_in(page, base_url, "reader_a")
    shot(page, "access_signed_in.png")
    search(page, base_url)
    assert titles(page) == {TITLES[d] for d in w.readable_docs("reader_a")}
    boxes = page.locator("fieldset.collections input[name=collections]")
    assert sorted(boxes.evaluate_all("els => els.map(e => e.value)")) == sorted(["公开文件", w.A, w.R])
    page.check(f"fieldset.collections input[value='{w.A}']")
    page.click(".search-row button[type=submit]")
    page.wait_for_selector("section.results-section")
    assert titles(page) == {TITLES["office1"], TITLES["joint1"]}
    assert f"collections={w.A}" in page.url or "collections=%E5%8A%9E" in page.url
    shot(page, "access_collection_switch.png")
    page.click(".account button")  # 退出 (a CSRF-protected form)
    page.wait_for_selector("a.signin-link")
    search(page, base_url)
    assert titles(page) == {TITLES["open1"]}


def test_read_only_collection_shows_passages_but_no_export(page, base_url):
    sign_in(page, base_url, "reader_a")
    search(page, base_url)
    page.check(f"fieldset.collections input[value='{w.R}']")
    page.click(".search-row button[type=submit]")
    page.wait_for_selector("li.result")
    assert titles(page) == {TITLES["ro1"]}
    assert "丁只读资料原文" in page.locator("li.result .passage").first.inner_text()
    assert page.locator("a.export, a.export-all").count() == 0
    page.wait_for_load_state("load")
    assert page.locator("li.result button.copy-link").count() == 0  # copy.js found no copyable permalink
    assert page.locator("li.result .read-only-note").count() == 1
    shot(page, "access_read_only.png")
    page.uncheck(f"fieldset.collections input[value='{w.R}']")
    page.check(f"fieldset.collections input[value='{w.A}']")
    page.click(".search-row button[type=submit]")
    page.wait_for_selector("li.result")
    assert page.locator("a.export").count() == 1  # a search without the read-only collection exports
    assert page.locator("li.result button.copy-link").count() >= 1


def test_admin_page_manages_users_collections_tokens_and_shows_the_audit(page, base_url, world):
    sign_in(page, base_url, "admin")
    page.click("a.admin-link")
    page.wait_for_selector("h1:has-text('管理')")
    form = page.locator("form#add-user")
    form.locator("input[name=name]").fill("zhao")
    form.locator("input[name=password]").fill("zhao-password-1")
    form.locator("input[name=collection]").fill(w.B)
    form.locator("select[name=role]").select_option("reader")
    form.locator("button").click()
    page.wait_for_selector("tr.user-row[data-user=zhao]")
    assert f"{w.B}: reader" in page.locator("tr.user-row[data-user=zhao]").inner_text()
    row = page.locator(f"tr.collection-row[data-collection='{w.B}']")
    row.locator("input[name=read_only]").check()
    row.locator("button").click()
    page.wait_for_selector("div.notice:has-text('已更新文件集')")
    assert page.locator(f"tr.collection-row[data-collection='{w.B}'] input[name=read_only]").is_checked()
    token_form = page.locator("form#create-token")
    token_form.locator("select[name=name]").select_option("zhao")
    token_form.locator("input[name=label]").fill("browser test")
    token_form.locator("button").click()
    assert page.locator("#new-token").inner_text().startswith("pst_")
    page.goto(base_url + "/admin/?action=admin.add-user")
    assert "zhao" in page.locator("table.audit").inner_text()
    shot(page, "access_admin.png")
    actions = [e["action"] for e in AuditLog.from_settings(world.settings).events()]
    assert {"signin", "admin.add-user", "admin.collection", "admin.create-token"} <= set(actions)
    world.store.set_collection(w.B, public=False, read_only=False)  # leave the world as found
