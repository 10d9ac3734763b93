"""Sign-in, sessions, CSRF, API tokens, proxy identity, read-only collections, audit log and the admin page."""

from __future__ import annotations

import io
import json
import re
import sqlite3

import pytest

from indexer.retrieval import SearchEngine
from search_app import create_app
from search_app.accounts import AccountError
from search_app.audit import AuditLog
from tests.support import accessworld as w
from tests.support.fakes import FakeEmbedder


@pytest.fixture
def world(tmp_path):
    return w.build(tmp_path)


def make_app(world, **overrides):
    import dataclasses

    settings = dataclasses.replace(world.settings, **overrides)
    return create_app(settings, engine=SearchEngine.open(settings, FakeEmbedder()))


@pytest.fixture
def app(world):
    return make_app(world)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, name: str, password: str = w.PASSWORD):
    token = csrf_of(client.get("/signin").get_data(as_text=True))
    return client.post("/signin", data={"username": name, "password": password, "csrf_token": token})


def audit_events(world) -> list[dict]:
    return list(AuditLog.from_settings(world.settings).events())


# ---------------------------------------------------------------- passwords and sign-in


def test_password_hashes_are_argon2id_and_no_password_is_stored(world):
    stored = world.store.password_hash("reader_a")
    assert stored.startswith("$argon2id$v=19$")
    assert world.store.check_password("reader_a", w.PASSWORD)
    assert not world.store.check_password("reader_a", "wrong password")
    assert not world.store.check_password("nobody", w.PASSWORD)
    raw = world.store.path.read_bytes()
    assert w.PASSWORD.encode() not in raw
    secret = world.tokens["reader_a"].split("_", 2)[2]  # pst_<id>_<secret>; the secret may hold "_" itself
    assert secret.encode() not in raw  # tokens too: only their SHA-256 is kept
    with pytest.raises(AccountError, match="8 characters"):
        world.store.set_password("reader_a", "short")


def test_sign_in_sets_a_secure_session_cookie(app):
    client = app.test_client()
    response = sign_in(client, "reader_a")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("ps_session="))
    flags = {f.strip().split("=")[0].lower() for f in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= flags and "samesite=lax" in cookie.lower()
    assert "secure" not in flags  # plain http on loopback: a Secure cookie would never come back
    assert "reader_a" in client.get("/").get_data(as_text=True)
    over_tls = app.test_client()
    token = csrf_of(over_tls.get("/signin", base_url="https://localhost").get_data(as_text=True))
    tls = over_tls.post(
        "/signin",
        data={"username": "reader_a", "password": w.PASSWORD, "csrf_token": token},
        base_url="https://localhost",
    )
    assert "; secure" in next(h for h in tls.headers.getlist("Set-Cookie") if h.startswith("ps_session=")).lower()


def test_cookie_secure_always_and_the_csrf_cookie_flags(world):
    app = make_app(world, cookie_secure="always")
    client = app.test_client()
    page = client.get("/signin")
    csrf = next(h for h in page.headers.getlist("Set-Cookie") if h.startswith("ps_csrf="))
    assert "httponly" in csrf.lower() and "samesite=strict" in csrf.lower() and "secure" in csrf.lower()


def test_wrong_password_and_unknown_user_answer_alike(app, world):
    client = app.test_client()
    a, b = sign_in(client, "reader_a", "not the password"), sign_in(client, "ghost", "not the password")
    assert a.status_code == b.status_code == 401
    assert "ps_session" not in a.headers.get("Set-Cookie", "")
    assert a.get_data(as_text=True).replace("reader_a", "X") == b.get_data(as_text=True).replace("ghost", "X")


def test_sign_in_redirects_only_within_the_site(app):
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client = app.test_client()
        token = csrf_of(client.get("/signin").get_data(as_text=True))
        data = {"username": "admin", "password": w.PASSWORD, "csrf_token": token, "next": evil}
        assert client.post("/signin", data=data).headers["Location"] == "/", evil
    client = app.test_client()
    token = csrf_of(client.get("/signin?next=/admin/").get_data(as_text=True))
    data = {"username": "admin", "password": w.PASSWORD, "csrf_token": token, "next": "/admin/"}
    assert client.post("/signin", data=data).headers["Location"] == "/admin/"


def test_sign_out_ends_the_session(app):
    client = app.test_client()
    sign_in(client, "reader_a")
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/signout", data={"csrf_token": token}).status_code == 303
    assert "reader_a" not in client.get("/").get_data(as_text=True)


# ---------------------------------------------------------------- CSRF


def test_form_posts_without_the_csrf_token_are_refused(app):
    client = app.test_client()
    client.get("/signin")  # has the double-submit cookie, but sends no token
    refused = client.post("/signin", data={"username": "reader_a", "password": w.PASSWORD})
    assert refused.status_code == 403 and "CSRF" in refused.get_data(as_text=True)
    wrong = client.post("/signin", data={"username": "reader_a", "password": w.PASSWORD, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    sign_in(client, "admin")
    assert client.post("/admin/add-user", data={"name": "mallory", "password": "p" * 10}).status_code == 403
    assert client.post("/signout").status_code == 403
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    ok = client.post("/admin/add-user", data={"name": "mallory", "password": "p" * 10, "csrf_token": token})
    assert ok.status_code == 303


def test_api_posts_riding_on_a_session_need_the_csrf_header(app, world):
    client = app.test_client()
    sign_in(client, "reader_a")
    body = {"queries": [w.QUERY]}
    assert client.post("/api/search/batch", json=body).status_code == 403
    token = csrf_of(client.get("/").get_data(as_text=True))
    assert client.post("/api/search/batch", json=body, headers={"X-CSRF-Token": token}).status_code == 200
    scripts = app.test_client()  # no ambient credential: nothing to protect
    assert scripts.post("/api/search/batch", json=body).status_code == 200
    bearer = {"Authorization": f"Bearer {world.tokens['reader_a']}"}
    assert scripts.post("/api/search/batch", json=body, headers=bearer).status_code == 200


# ---------------------------------------------------------------- API tokens, admin token, proxy


def test_api_tokens_carry_their_user_roles_and_scopes(app, world):
    client = app.test_client()
    reader_a = {"Authorization": f"Bearer {world.tokens['reader_a']}"}
    assert {
        r["doc_id"] for r in client.get(f"/api/search?q={w.QUERY}&k=50", headers=reader_a).get_json()["results"]
    } == (w.readable_docs("reader_a"))
    assert client.post("/api/admin/reindex", headers=reader_a).status_code == 403
    write_only = world.store.create_token("reader_a", ["write"])[1]
    hits = client.get(f"/api/search?q={w.QUERY}&k=50", headers={"Authorization": f"Bearer {write_only}"})
    assert {r["doc_id"] for r in hits.get_json()["results"]} == w.readable_docs(None)  # no read scope: public only
    token_id = world.tokens["reader_a"].split("_")[1]
    world.store.revoke_token(token_id)
    assert client.get("/api/documents", headers=reader_a).status_code == 401
    assert client.get("/api/documents", headers={"Authorization": "Bearer pst_nope_nope"}).status_code == 401
    admin_scoped = world.store.create_token("admin", ["read"])[1]
    assert client.post("/api/reload", headers={"Authorization": f"Bearer {admin_scoped}"}).status_code == 403
    admin_full = world.store.create_token("admin", ["admin", "read"])[1]
    assert client.post("/api/reload", headers={"Authorization": f"Bearer {admin_full}"}).status_code == 200


def test_the_admin_token_of_today_is_one_admin_credential(app):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {w.ADMIN_TOKEN}"}
    assert client.get("/admin/", headers=headers).status_code == 200
    assert {d["doc_id"] for d in client.get("/api/documents", headers=headers).get_json()["documents"]} == set(
        w.PASSAGES
    )


def test_proxy_identity_only_from_configured_proxies(world):
    header = {"X-Remote-User": "reader_b"}
    untrusted = make_app(world).test_client()
    docs = untrusted.get("/api/documents", headers=header).get_json()["documents"]
    assert {d["doc_id"] for d in docs} == w.readable_docs(None)  # the header from anyone else is ignored
    app = make_app(world, trusted_proxies="10.0.0.0/8, 192.168.1.7")
    via_proxy = app.test_client()
    via_proxy.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    docs = via_proxy.get("/api/documents", headers=header).get_json()["documents"]
    assert {d["doc_id"] for d in docs} == w.readable_docs("reader_b")
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.168.1.8"
    docs = elsewhere.get("/api/documents", headers=header).get_json()["documents"]
    assert {d["doc_id"] for d in docs} == w.readable_docs(None)
    assert via_proxy.post("/api/search/batch", json={"queries": ["发展"]}, headers=header).status_code == 403  # CSRF


# ---------------------------------------------------------------- read on screen only


def test_read_only_collection_has_no_export_rows_link_or_copy_button(app):
    client = app.test_client()
    sign_in(client, "reader_a")  # reads A and the read-only R
    page = client.get(f"/?q={w.QUERY}&size=50").get_data(as_text=True)
    assert "内部资料汇编丁" in page  # still found and shown
    assert 'class="export"' not in page and "导出" not in page  # no export link
    ro_item = next(li for li in page.split('<li class="result"') if "hit=ro1%230" in li)
    assert "data-copy" not in ro_item and "仅供阅读" in ro_item
    csv = client.get(f"/export.csv?q={w.QUERY}&all=1").get_data(as_text=True)
    assert "内部资料汇编丁" not in csv and "办公室值班通知甲" in csv
    doc = client.get("/doc/ro1?hit=ro1%230").get_data(as_text=True)
    assert "丁只读资料原文" in doc and "data-copy" not in doc
    only_a = client.get(f"/?q={w.QUERY}&collections={w.A}").get_data(as_text=True)
    assert 'class="export"' in only_a  # a search without the read-only collection keeps its export


# ---------------------------------------------------------------- audit log


def test_audit_log_records_who_did_what_and_never_secrets(app, world):
    client = app.test_client()
    sign_in(client, "reader_a", "wrong password")
    sign_in(client, "reader_a")
    client.get(f"/?q={w.QUERY}")
    client.get("/doc/office1")
    client.get(f"/export.csv?q={w.QUERY}")
    client.get("/api/search?q=发展&k=3", headers={"Authorization": f"Bearer {world.tokens['reader_b']}"})
    events = audit_events(world)
    actions = [(e["action"], e["user"]) for e in events]
    assert ("signin_failed", "-") in actions and ("signin", "reader_a") in actions
    search = next(e for e in events if e["action"] == "search" and e["user"] == "reader_a")
    assert search["query"] == w.QUERY and search["results"] >= 3 and w.A in search["collections"]
    assert any(e["action"] == "view" and e["doc_id"] == "office1" for e in events)
    assert any(e["action"] == "export" and e["user"] == "reader_a" for e in events)
    assert any(e["action"] == "search" and e["user"] == "reader_b" and e["via"] == "token" for e in events)
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"]) for e in events)
    raw = "".join(p.read_text(encoding="utf-8") for p in AuditLog.from_settings(world.settings).files())
    assert w.PASSWORD not in raw and "wrong password" not in raw
    # pst_<id>_<secret>; the secret itself may hold "_" (URL-safe base64): split after the id, not at the last "_"
    assert all(t.split("_", 2)[2] not in raw for t in world.tokens.values())


def test_audit_log_rotates_by_size_and_keeps_every_event_readable(tmp_path):
    log = AuditLog(tmp_path / "audit", max_bytes=2000, keep=3)
    for i in range(200):
        log.write("search", "u", query=f"查询{i}", password="never", token="never")
    files = log.files()
    assert len(files) == 4 and all(p.stat().st_size <= 2000 for p in files)
    events = list(log.events())
    assert events[-1]["query"] == "查询199" and [e["query"] for e in events] == sorted(
        (e["query"] for e in events), key=lambda q: int(q[2:])
    )
    assert all("password" not in e and "token" not in e for e in events)
    assert log.tail(2)[0]["query"] == "查询199" and len(events) < 200  # the oldest file was dropped


# ---------------------------------------------------------------- admin page


def test_admin_page_changes_are_applied_and_audited(app, world):
    client = app.test_client()
    sign_in(client, "admin")
    page = client.get("/admin/").get_data(as_text=True)
    for section in ("用户与角色", "文件集", "API 令牌", "审计日志"):
        assert section in page
    token = csrf_of(page)

    def post(action, **data):
        return client.post(f"/admin/{action}", data={"csrf_token": token, **data})

    assert post("add-user", name="zhao", password="zhao-password", collection=w.B, role="reader").status_code == 303
    assert world.store.roles("zhao") == {w.B: "reader"}
    assert post("grant", name="zhao", collection=w.A, role="editor").status_code == 303
    assert post("revoke", name="zhao", collection=w.B).status_code == 303
    assert post("collection", collection=w.B, public="1").status_code == 303
    assert w.B in world.store.public_collections()
    created = post("create-token", name="zhao", scope_read="1", label="batch")
    secret = re.search(r'id="new-token">([^<]+)<', created.get_data(as_text=True)).group(1)
    assert secret.startswith("pst_")
    assert post("set-password", name="zhao", password="short").status_code == 400  # refused, said why
    assert post("disable", name="admin", disabled="1").status_code == 400  # not yourself
    assert post("delete-user", name="zhao").status_code == 303
    actions = [e["action"] for e in audit_events(world) if e["action"].startswith("admin.")]
    assert actions == [
        "admin.add-user",
        "admin.grant",
        "admin.revoke",
        "admin.collection",
        "admin.create-token",
        "admin.set-password",
        "admin.disable",
        "admin.delete-user",
    ]
    raw = (world.settings.index_dir / "audit" / "audit.log").read_text(encoding="utf-8")
    assert secret not in raw and "zhao-password" not in raw
    export = client.get("/admin/audit.jsonl")
    lines = [json.loads(x) for x in export.get_data(as_text=True).splitlines()]
    assert export.status_code == 200 and lines[0]["action"] == "signin" and len(lines) >= 9


def test_anonymous_visitors_of_the_admin_page_are_sent_to_sign_in(app):
    response = app.test_client().get("/admin/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin?next=/admin/")


def test_accounts_file_holds_no_plain_secrets_after_sessions(app, world):
    client = app.test_client()
    sign_in(client, "editor")
    cookie = client.get_cookie("ps_session").value
    with sqlite3.connect(world.store.path) as con:
        dump = "\n".join(con.iterdump())
    assert cookie not in dump and w.PASSWORD not in dump


# ---------------------------------------------------------------- editors


def test_editors_add_and_remove_documents_of_their_collections_only(app, world):
    client = app.test_client()
    editor = {"Authorization": f"Bearer {world.store.create_token('editor', ['read', 'write'])[1]}"}

    def upload(name: str, text: str, **form):
        data = {"file": (io.BytesIO(text.encode("utf-8")), name), **form}
        return client.post("/api/admin/documents", data=data, headers=editor, content_type="multipart/form-data")

    note = "关于值班的补充通知\n推动高质量发展，乙方不可见的补充安排。"
    assert upload("note.txt", note).status_code == 400  # must name the collection
    assert upload("note.txt", note, collections=w.B).status_code == 403
    assert upload("press1.txt", note, collections=w.A).status_code == 403  # would replace B's document
    assert upload("bulk.jsonl", '{"title": "x", "text": "推动"}\n', collections=w.A).status_code == 403
    done = upload("note.txt", note, collections=w.A)
    assert done.status_code == 200, done.get_json()
    reader_b = {"Authorization": f"Bearer {world.tokens['reader_b']}"}
    assert client.get("/doc/note", headers=reader_b).status_code == 404
    reader_a = {"Authorization": f"Bearer {world.tokens['reader_a']}"}
    assert client.get("/doc/note", headers=reader_a).status_code == 200
    gone, missing = client.delete("/api/admin/documents/press1", headers=editor), client.delete(
        "/api/admin/documents/pressx", headers=editor
    )
    assert gone.status_code == missing.status_code == 404
    assert gone.get_json()["error"].replace("press1", "X") == missing.get_json()["error"].replace("pressx", "X")
    assert client.delete("/api/admin/documents/joint1", headers=editor).status_code == 403  # also in B
    assert client.delete("/api/admin/documents/note", headers=editor).status_code == 200
    assert client.post("/api/admin/reindex", headers=editor).status_code == 403
    reader_writes = {"Authorization": f"Bearer {world.store.create_token('reader_a', ['write'])[1]}"}
    assert upload("n2.txt", note, collections=w.A).status_code == 200
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    data = {"file": (io.BytesIO(note.encode()), "n3.txt"), "collections": w.A}
    refused = client.post("/api/admin/documents", data=data, headers=reader_writes, content_type="multipart/form-data")
    assert refused.status_code == 403


def test_repeated_failed_sign_ins_are_throttled_for_known_and_unknown_names(world):
    app = make_app(world, signin_max_failures=3)
    for name in ("reader_b", "ghost"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{len(name)}"
        codes = [sign_in(client, name, "guess-guess").status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429], name
        assert sign_in(client, name, w.PASSWORD).status_code == 429  # even the right password, for a while
    other = app.test_client()
    assert sign_in(other, "reader_a").status_code == 303  # other names and addresses are unaffected
    assert any(e["action"] == "signin_throttled" for e in audit_events(world))


def test_answers_for_a_signed_in_reader_stay_out_of_shared_caches(app, world):
    client = app.test_client()
    sign_in(client, "reader_a")
    for url in (f"/?q={w.QUERY}", f"/api/search?q={w.QUERY}", "/doc/office1"):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "private, no-store", url
        assert {"Cookie", "Authorization"} <= set(response.vary)
    anonymous = app.test_client().get(f"/api/search?q={w.QUERY}")
    assert "Cookie" in anonymous.vary and "private" not in anonymous.headers.get("Cache-Control", "")
