"""Hostile inputs against the real store and web layer (fake embedder: no model, fast).

Tried, and what must happen:
  * markup in documents: `<script>alert(..)</script>` and `"><img src=x onerror=alert(..)>` in a
    document's title (sidecar), heading lines and body text -> shown as text (escaped) on the
    search page, the document view (title, outline, passages) and the similar-passages page;
    the only <script> element in any page is our own /static/copy.js;
  * markup in queries, filters and ids: the same strings as `q`, as `type=`, as `/doc/<id>` and
    `/similar/<id>`, and in the document view's `q`/`hit` -> escaped, or refused with a 400/404;
  * path traversal: /doc/../../etc/passwd (raw, unnormalised, through waitress), /doc/%2e%2e,
    /doc/..%2f..%2fetc%2fpasswd, /similar/..%2f..%2fetc%2fpasswd, /static/../../etc/passwd,
    /static/..%2f..%2fsearch_app%2f__init__.py, a 5000-character id -> 404 or 400, and no file
    outside the app's own is opened while they are served;
  * limits: q of 501 and 100 000 characters, k=1000, k=-1, k=abc, k=1e3, page=0, page=-1,
    size=10000, year_from=abc, NUL and invalid UTF-8 in q -> 400 with the reason (or a normal
    answer for NUL/invalid UTF-8), never a 500;
  * request bodies: malformed JSON, a form-encoded body, a JSON array, a batch of 1001 queries,
    a 3 MB body -> 400/413 with the reason;
  * uploads: a file over max_upload_mb (413), a name like ../../x.txt (stored as x.txt inside the
    uploads folder), a binary file posing as .txt (reported, not kept, index unchanged), an
    .exe (400), a JSON body instead of multipart (400);
  * CSV export: a query holding CR/LF cannot inject a response header.
"""

from __future__ import annotations

import builtins
import http.client
import io
import json
from html.parser import HTMLParser

import pytest

from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from search_app import create_app
from tests.support.fakes import FakeEmbedder
from tests.support.realindex import serve
from tests.support.settings import test_settings

TOKEN = "t0ken"
XSS_TITLE = '"><img src=x onerror=alert(1)><script>alert("title")</script>政府工作报告'
XSS_TEXT = (
    "一、<script>alert('heading')</script>总体要求\n"
    "坚持稳中求进，推动高质量发展\"><img src=x onerror=alert(2)>取得新进展。扩大内需，稳定就业。\n"
    "二、重点任务\n"
    "加快建设现代化产业体系，<script>document.location='http://evil'</script>发展新质生产力。\n"
)
CLEAN_TEXT = "一、总体要求\n推动高质量发展，扩大国内需求。\n二、民生\n稳定就业，完善社会保障。\n"
QUERY_XSS = '"><img src=x onerror=alert(3)><script>alert(4)</script>'


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "xss.txt").write_text(XSS_TEXT, encoding="utf-8")
    (docs / "xss.meta.json").write_text(json.dumps({"title": XSS_TITLE, "year": 2024, "type": "report"}),
                                         encoding="utf-8")
    (docs / "clean.txt").write_text(CLEAN_TEXT, encoding="utf-8")
    settings = test_settings(tmp, admin_token=TOKEN, uploads_dir=tmp / "uploads", max_upload_mb=1)
    embedder = FakeEmbedder()
    build_index([docs], settings, embedder=embedder)
    app = create_app(settings, engine=SearchEngine(settings, embedder=embedder))
    return settings, app


@pytest.fixture
def client(env):
    return env[1].test_client()


def html_of(client, url: str, status: int = 200) -> str:
    resp = client.get(url)
    assert resp.status_code == status, (url, resp.status_code, resp.get_data(as_text=True)[:500])
    return resp.get_data(as_text=True)


class _Tags(HTMLParser):
    """The elements a browser would build from the page, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No markup from data: the only script is ours, no <img>, no event-handler attribute, no javascript: URL."""
    parser = _Tags()
    parser.feed(html)
    scripts = [a.get("src") for t, a in parser.tags if t == "script"]
    assert all(src and src.startswith("/static/") for src in scripts), scripts
    assert not [t for t, _ in parser.tags if t in ("img", "iframe", "object", "embed")]
    # The only SVG is the page's own timeline (numbers and links it draws itself).
    assert all(a.get("class") == "timeline" for t, a in parser.tags if t == "svg")
    for tag, attrs in parser.tags:
        assert not [k for k in attrs if k.startswith("on")], (tag, attrs)
        assert not any(str(v).strip().lower().startswith("javascript:") for v in attrs.values()), (tag, attrs)


def test_markup_in_documents_is_text_on_search_page(client):
    for mode in ("lexical", "hybrid", "dense"):
        html = html_of(client, f"/?q=高质量发展&mode={mode}&size=50")
        assert_inert(html)
        assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in html  # the title, escaped
    html = html_of(client, "/?q=新质生产力&mode=lexical")
    assert "&lt;script&gt;document.location=&#39;http://evil&#39;&lt;/script&gt;" in html


def test_markup_in_documents_is_text_in_document_view_and_outline(client):
    html = html_of(client, "/doc/xss?hit=xss%231&q=" + QUERY_XSS)
    assert_inert(html)
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html  # title in <h1> and <title>
    nav = html.split('aria-label="文档目录"')[1].split("</nav>")[0]
    assert "一、&lt;script&gt;alert(&#39;heading&#39;)&lt;/script&gt;总体要求" in nav
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_markup_in_documents_is_text_on_similar_page(client):
    html = html_of(client, "/similar/clean%230")
    assert_inert(html)
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "url",
    [
        "/?q=" + QUERY_XSS,
        "/?q=" + QUERY_XSS + "&mode=" + QUERY_XSS,
        "/?q=发展&type=" + QUERY_XSS,
        "/?q=发展&year_from=" + QUERY_XSS,
        "/?q=发展&doc=" + QUERY_XSS,
        "/doc/clean?q=" + QUERY_XSS + "&hit=" + QUERY_XSS,
    ],
)
def test_markup_in_queries_and_parameters_is_escaped(client, url):
    resp = client.get(url)
    assert resp.status_code in (200, 400)
    html = resp.get_data(as_text=True)
    assert_inert(html)
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in html or "&lt;img" in html or resp.status_code == 400


@pytest.mark.parametrize("path", ["/doc/" + QUERY_XSS.replace("/", ""), "/similar/" + QUERY_XSS.replace("/", "")])
def test_markup_in_ids_is_a_plain_404(client, path):
    assert_inert(html_of(client, path, 404))


TRAVERSAL = [
    ("/doc/..%2f..%2fetc%2fpasswd", 404),
    ("/doc/%2e%2e", 404),
    ("/doc/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404),
    ("/doc/....%2f%2f....%2f%2fetc%2fpasswd", 404),
    ("/similar/..%2f..%2fetc%2fpasswd", 404),
    ("/similar/%2e%2e", 404),
    ("/static/..%2f..%2fsearch_app%2f__init__.py", 404),
    ("/static/%2e%2e/%2e%2e/etc/passwd", 404),
    ("/doc/" + "a" * 5000, 400),
    ("/similar/" + "a" * 5000, 400),
]


@pytest.fixture
def opened(monkeypatch):
    """Every path opened with open() while the test runs."""
    seen: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kwargs):
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    return seen


@pytest.mark.parametrize(("path", "status"), TRAVERSAL)
def test_path_traversal_through_the_test_client(client, opened, path, status):
    resp = client.get(path)
    assert resp.status_code == status
    assert b"root:" not in resp.data and b"create_app" not in resp.data
    assert not [p for p in opened if "passwd" in p or p.endswith("__init__.py")]


def test_path_traversal_raw_through_waitress(env, opened):
    """http.client sends the path as is (no client-side normalisation of ../)."""
    raw = ["/doc/../../etc/passwd", "/similar/../../../etc/passwd", "/static/../../etc/passwd",
           "/static/../search_app/__init__.py", "/doc/..", "/doc/%2e%2e/%2e%2e/etc/passwd"]
    raw += [path for path, _ in TRAVERSAL[:8]]
    with serve(env[1], threads=2) as base:
        port = int(base.rsplit(":", 1)[1])
        for path in raw:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status in (400, 404), (path, resp.status)
            assert b"root:" not in body and b"create_app" not in body, path
    assert not [p for p in opened if "passwd" in p or p.endswith("__init__.py")]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("q=" + "长" * 501, "the limit is 500"),
        ("q=" + "a" * 100_000, "the limit is 500"),
        ("q=发展&k=1000", "k must be between 1 and 100"),
        ("q=发展&k=-1", "k must be between 1 and 100"),
        ("q=发展&k=abc", "k must be an integer"),
        ("q=发展&k=1e3", "k must be an integer"),
        ("q=发展&year_from=abc", "year_from must be an integer year"),
    ],
)
def test_api_limits(client, query, reason):
    resp = client.get("/api/search?" + query)
    assert resp.status_code == 400 and reason in resp.get_json()["error"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("q=发展&page=0", "page must be between 1"),
        ("q=发展&page=-1", "page must be between 1"),
        ("q=发展&size=10000", "size must be between 1 and 50"),
        ("q=发展&k=1000", "k must be between 1 and 50"),
        ("q=" + "a" * 100_000, "the limit is 500"),
    ],
)
def test_page_and_export_limits(client, query, reason):
    assert reason in html_of(client, "/?" + query, 400)
    assert reason in html_of(client, "/export.csv?" + query, 400)


@pytest.mark.parametrize("q", ["%00", "%FF%FE%FD", "%E5%8F", "%0D%0ASet-Cookie:%20x=1"])
def test_odd_bytes_in_queries_never_500(client, q):
    for url in (f"/?q={q}", f"/api/search?q={q}", f"/export.csv?q={q}&mode=lexical", f"/doc/clean?q={q}"):
        resp = client.get(url)
        assert resp.status_code in (200, 400), (url, resp.status_code)
        assert "Set-Cookie" not in resp.headers


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"queries=a", "application/x-www-form-urlencoded", 400, "not valid JSON"),
        (b'["a"]', "application/json", 400, "must be a JSON object"),
        (json.dumps({"queries": ["a"] * 1001}).encode(), "application/json", 400, "too many queries"),
        (b"x" * 3_000_000, "application/json", 413, "request body too large"),
    ],
)
def test_bad_batch_bodies(client, body, content_type, status, reason):
    resp = client.post("/api/search/batch", data=body, content_type=content_type)
    assert resp.status_code == status and reason in resp.get_json()["error"]


def _upload(client, name: str, content: bytes):
    return client.post(
        "/api/admin/documents",
        data={"file": [(io.BytesIO(content), name)]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        content_type="multipart/form-data",
    )


def test_hostile_uploads(env, client):
    settings, _ = env
    version = client.get("/api/health").get_json()["version"]
    big = _upload(client, "big.txt", b"a" * (1024 * 1024 + 10))
    assert big.status_code == 413 and "upload too large" in big.get_json()["error"]
    fake_txt = _upload(client, "looks-like-text.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    assert fake_txt.status_code == 422 and "binary" in fake_txt.get_json()["errors"][0]
    assert _upload(client, "tool.exe", b"MZ\x90\x00").status_code == 400
    assert client.get("/api/health").get_json()["version"] == version  # nothing changed so far
    sneaky = _upload(client, "../../x.txt", CLEAN_TEXT.replace("民生", "教育").encode())
    assert sneaky.status_code == 200 and sneaky.get_json()["files"][0]["stored_as"] == "x.txt"
    assert [p.name for p in settings.uploads_dir.iterdir()] == ["x.txt"]
    assert not (settings.uploads_dir.parent.parent / "x.txt").exists()
    wrong_type = client.post("/api/admin/documents", json={"file": "x"}, headers={"X-Admin-Token": TOKEN})
    assert wrong_type.status_code == 400 and "multipart/form-data" in wrong_type.get_json()["error"]
