"""Every endpoint as every kind of reader: nothing of an unreadable collection in any body, header or count.

Principals: anonymous, reader of A (signed in), reader of B (API token), editor of A (signed in), admin
(signed in) and today's admin token. Endpoints are taken from the app's own URL map, so an endpoint added
later (facets, timeline ...) is covered without touching this file; ids in URLs are filled with every
document and passage id. A forbidden id must answer exactly like a missing one.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import pytest

from indexer.retrieval import SearchEngine
from search_app import create_app
from tests.support import accessworld as w
from tests.support.fakes import FakeEmbedder

MISSING = "nodoc"
PRINCIPALS = ["anonymous", "reader_a", "reader_b", "editor", "admin", "admin_token"]
CHUNKS = {d: [f"{d}#{i}" for i in range(len(sections))] for d, (_, _, sections) in w.PASSAGES.items()}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return w.build(tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.settings, engine=SearchEngine.open(world.settings, FakeEmbedder()))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, name: str, password: str = w.PASSWORD):
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": name, "password": password, "csrf_token": token})


@pytest.fixture(scope="module")
def clients(app, world):
    out = {}
    for who in PRINCIPALS:
        c = app.test_client()
        if who in ("reader_a", "editor", "admin"):
            assert sign_in(c, who).status_code == 303
        elif who == "reader_b":
            c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {world.tokens['reader_b']}"
        elif who == "admin_token":
            c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {w.ADMIN_TOKEN}"
        out[who] = c
    return out


def user_of(who: str) -> str | None:
    return {"anonymous": None, "admin_token": "admin"}.get(who, who)


def forbidden_strings(who: str) -> list[str]:
    """Markers of every document and name of every collection this principal may not read."""
    readable = w.readable_docs(user_of(who))
    strings = [m for d, marks in w.MARKERS.items() if d not in readable for m in marks]
    roles = w.USERS.get(user_of(who) or "", {})
    if "*" not in roles:
        strings += [c for c in (w.A, w.B, w.R) if c not in roles]
    return strings


def urls(app) -> list[str]:
    """Every GET endpoint of the app, ids filled with every document and passage (and one missing one)."""
    q = quote(w.QUERY)
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        args = set(rule.arguments)
        if not args:
            base = rule.rule
            out += [base, f"{base}?q={q}&k=50&size=50", f"{base}?q={q}&all=1", f"{base}?q={q}&mode=lexical&k=50"]
            out += [f"{base}?q={quote(chr(34) + w.QUERY + chr(34))}&k=50"]  # a phrase: counted over every passage
            out += [f"{base}?chunk_id={quote(c)}&q={q}" for cs in CHUNKS.values() for c in cs]
            out += [f"{base}?q={q}&doc={d}" for d in w.PASSAGES]
        elif args == {"doc_id"}:
            out += [rule.rule.replace("<doc_id>", d) for d in [*w.PASSAGES, MISSING]]
        elif args == {"chunk_id"}:
            out += [rule.rule.replace("<chunk_id>", quote(c)) for cs in CHUNKS.values() for c in cs]
        else:
            pytest.fail(f"the matrix does not know how to fill {rule.rule}: teach urls() its arguments")
    return out


def leaks(response, strings: list[str], asked: str = "") -> list[str]:
    """Forbidden strings in the body or headers, except an id the request itself named (echoed back)."""
    text = response.get_data(as_text=True) + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    asked = unquote(asked)
    return [s for s in strings if (s in text or quote(s) in text) and s not in asked]


@pytest.mark.parametrize("who", PRINCIPALS)
def test_no_response_reveals_an_unreadable_collection(app, clients, who):
    client, strings = clients[who], forbidden_strings(who)
    found = {}
    for url in urls(app):
        response = client.get(url)
        assert response.status_code < 500, (url, response.get_data(as_text=True)[:300])
        if bad := leaks(response, strings, url):
            found[url] = bad
    batch = client.post("/api/search/batch", json={"queries": [w.QUERY, "公开"], "k": 50})
    if bad := leaks(batch, strings):
        found["batch"] = bad
    assert not found


@pytest.mark.parametrize("who", PRINCIPALS)
def test_results_listing_and_counts_are_exactly_what_may_be_read(clients, who):
    client, readable = clients[who], w.readable_docs(user_of(who))
    hits = client.get(f"/api/search?q={w.QUERY}&k=50").get_json()["results"]
    assert {r["doc_id"] for r in hits} == readable
    for mode in ("dense", "lexical"):
        hits = client.get(f"/api/search?q={w.QUERY}&k=50&mode={mode}").get_json()["results"]
        assert {r["doc_id"] for r in hits} <= readable
    counted = client.get(f"/api/search?q={w.QUERY}&k=50&mode=lexical").get_json()  # counts every match
    assert counted["total"] == sum(len(CHUNKS[d]) for d in readable) and counted["documents_total"] == len(readable)
    assert {f["value"] for f in counted["facets"]["document"]} == readable
    assert sum(y["count"] for y in counted["timeline"]["years"]) == counted["total"]
    listing = client.get("/api/documents").get_json()["documents"]
    assert {d["doc_id"] for d in listing} == readable
    health = client.get("/api/health").get_json()
    assert health["documents"] == len(readable)
    assert health["chunks"] == sum(len(CHUNKS[d]) for d in readable)
    for d in readable:
        assert client.get(f"/doc/{d}").status_code == 200


def _same(a, b, a_id: str, b_id: str) -> bool:
    """Two answers alike once the id asked for is taken out (status, body, header names)."""
    body_a = a.get_data(as_text=True).replace(quote(a_id), "ID").replace(a_id, "ID")
    body_b = b.get_data(as_text=True).replace(quote(b_id), "ID").replace(b_id, "ID")
    heads = {"Date", "Content-Length"}
    ha = {k: v for k, v in a.headers.items() if k not in heads and "Set-Cookie" not in k}
    hb = {k: v for k, v in b.headers.items() if k not in heads and "Set-Cookie" not in k}
    return a.status_code == b.status_code and body_a == body_b and ha == hb


FORBIDDEN_VS_MISSING = [
    "/doc/{id}",
    "/doc/{id}?hit={id}%230",
    "/similar/{id}%230",
    "/api/similar?chunk_id={id}%230",
    "/api/search?q=发展&doc={id}",
    "/?q=发展&doc={id}",
    "/export.csv?q=发展&doc={id}",
]


@pytest.mark.parametrize("who", ["anonymous", "reader_a", "reader_b", "editor"])
def test_a_forbidden_id_answers_exactly_like_a_missing_one(clients, who):
    client, readable = clients[who], w.readable_docs(user_of(who))
    forbidden = [d for d in w.PASSAGES if d not in readable]
    assert forbidden
    for template in FORBIDDEN_VS_MISSING:
        for doc in forbidden:
            missing = "x" * len(doc)
            a = client.get(template.format(id=doc))
            b = client.get(template.format(id=missing))
            assert a.status_code >= 400 and _same(a, b, doc, missing), (template, doc, a.status_code, b.status_code)


def test_an_unreadable_collection_is_refused_like_an_unknown_one(clients):
    client = clients["reader_b"]
    a = client.get(f"/api/search?q=发展&collections={w.A}")
    b = client.get("/api/search?q=发展&collections=没有的集")
    assert a.status_code == b.status_code == 400 and _same(a, b, w.A, "没有的集")


def test_admin_pages_and_api_are_closed_to_non_admins(clients):
    for who in ("anonymous", "reader_a", "reader_b", "editor"):
        c = clients[who]
        page = c.get("/admin/")
        assert page.status_code in (302, 401, 403), who
        assert c.get("/admin/audit.jsonl").status_code in (302, 401, 403)
        assert c.post("/api/admin/reindex").status_code in (401, 403)
        assert "matrix" not in page.get_data(as_text=True)
    assert clients["admin"].get("/admin/").status_code == 200
    assert clients["admin_token"].get("/admin/").status_code == 200
