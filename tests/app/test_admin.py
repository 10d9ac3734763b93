"""Admin API over HTTP (upload, remove, re-index) with the real pipeline and store, a fake embedder.

Checks the token guard (403 when off, 401 without the right token), safe storage of uploads,
the BuildReport answer, rollback of files the loader rejects, and that searches see the change.
"""

from __future__ import annotations

import json

import pytest

from search_app import create_app
from search_app.admin import stored_name
from tests.support.admin import AUTH, TOKEN, admin_app, upload
from tests.support.settings import test_settings

SEED = (
    "一、总体要求\n坚持稳中求进工作总基调，推动经济高质量发展，保持社会大局稳定。\n"
    "二、重点任务\n扩大国内需求，稳定就业。\n"
)
NEW = "关于防汛工作的通知\n各地要做好汛前准备，落实防汛责任制，加强值班值守和隐患排查。\n确保人民群众生命财产安全。\n"


@pytest.fixture
def app_env(tmp_path):
    return admin_app(tmp_path, SEED, uploads_dir=tmp_path / "uploads")


def doc_ids(client) -> set[str]:
    return {d["doc_id"] for d in client.get("/api/documents").get_json()["documents"]}


def test_admin_endpoints_are_off_without_a_configured_token(tmp_path):
    client = create_app(test_settings(tmp_path)).test_client()
    for method, url in (("post", "/api/admin/documents"), ("delete", "/api/admin/documents/x"),
                        ("post", "/api/admin/reindex"), ("post", "/api/reload")):
        resp = getattr(client, method)(url, headers=AUTH)
        assert resp.status_code == 403 and "admin API disabled" in resp.get_json()["error"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": "wrong"},
                                     {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401(app_env, headers):
    _, client = app_env
    for resp in (upload(client, ("a.txt", NEW.encode()), headers=headers),
                 client.delete("/api/admin/documents/x", headers=headers),
                 client.post("/api/admin/reindex", headers=headers)):
        assert resp.status_code == 401, resp.get_data(as_text=True)
        assert "admin token" in resp.get_json()["error"] and resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_reading_stays_open_with_a_token_configured(app_env):
    _, client = app_env
    assert client.get("/api/search?q=就业&mode=lexical").status_code == 200
    assert client.get("/api/documents").status_code == 200 and client.get("/").status_code == 200


def test_upload_indexes_the_file_and_answers_the_build_report(app_env):
    settings, client = app_env
    resp = upload(client, ("防汛通知.txt", NEW.encode()), title="关于做好防汛工作的通知", year="2023", type="notice")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["added"] == ["防汛通知"] and body["errors"] == [] and body["version"] and "1 added" in body["summary"]
    assert body["files"] == [
        {"filename": "防汛通知.txt", "stored_as": "防汛通知.txt", "doc_ids": ["防汛通知"], "indexed": True}
    ]
    assert (settings.uploads_dir / "防汛通知.txt").read_text(encoding="utf-8") == NEW
    hits = client.get("/api/search?q=防汛责任制&mode=lexical&type=notice&year_from=2023").get_json()["results"]
    assert hits and hits[0]["doc_id"] == "防汛通知" and hits[0]["title"] == "关于做好防汛工作的通知"
    again = upload(client, ("防汛通知.txt", NEW.encode())).get_json()
    assert again["unchanged"] == ["防汛通知"] and again["added"] == []


def test_several_files_in_one_request_and_bad_ones_are_skipped_not_kept(app_env):
    settings, client = app_env
    resp = upload(client, ("好.txt", NEW.encode()), ("坏.txt", b"\x00\x01\x02binary\x00" * 50), ("空.md", b"  \n"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["added"] == ["好"] and len(body["errors"]) == 2
    assert any(e.startswith("坏.txt: binary") for e in body["errors"]) and str(settings.uploads_dir) not in str(body)
    assert sorted(p.name for p in settings.uploads_dir.iterdir()) == ["好.txt"]
    assert [f["indexed"] for f in body["files"]] == [True, False, False]


def test_a_rejected_replacement_restores_the_previous_file(app_env):
    settings, client = app_env
    assert upload(client, ("通知.txt", NEW.encode())).status_code == 200
    version = client.get("/api/health").get_json()["version"]
    resp = upload(client, ("通知.txt", b"\x00" * 100))
    assert resp.status_code == 422 and "no uploaded file could be indexed" in resp.get_json()["error"]
    assert (settings.uploads_dir / "通知.txt").read_text(encoding="utf-8") == NEW
    assert client.get("/api/health").get_json()["version"] == version
    assert [p.name for p in settings.uploads_dir.iterdir()] == ["通知.txt"]  # no backup or part file left


@pytest.mark.parametrize(
    ("name", "stored"),
    [("../../x.txt", "x.txt"), ("..\\..\\evil.md", "evil.md"), ("/etc/passwd.txt", "passwd.txt"),
     ("a b<script>.TXT", "a-b-script.txt"), (".hidden.txt", "hidden.txt"), ("..txt", None)],
)
def test_stored_names_are_safe(name, stored):
    got = stored_name(name)
    assert "/" not in got and "\\" not in got and not got.startswith(".")
    if stored:
        assert got == stored
    else:
        assert got.startswith("doc-") and got.endswith(".txt")


def test_upload_with_traversal_name_is_stored_inside_uploads(app_env, tmp_path):
    settings, client = app_env
    resp = upload(client, ("../../escape.txt", NEW.encode()))
    assert resp.status_code == 200 and resp.get_json()["files"][0]["stored_as"] == "escape.txt"
    assert (settings.uploads_dir / "escape.txt").exists()
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.parametrize(
    ("files", "form", "reason"),
    [
        ([], {}, "no file in the request"),
        ([("a.exe", b"MZ")], {}, "unsupported file type '.exe'"),
        ([("noext", b"x")], {}, "unsupported file type '(none)'"),
        ([("a.txt", b"x"), ("a.txt", b"y")], {}, "both be stored as 'a.txt'"),
        ([("a.txt", b"x"), ("b.txt", b"y")], {"title": "t"}, "apply to a single uploaded file"),
        ([("a.txt", b"x")], {"year": "soon"}, "year must be an integer year"),
    ],
)
def test_bad_uploads_are_400_with_reason(app_env, files, form, reason):
    settings, client = app_env
    resp = upload(client, *files, **form)
    assert resp.status_code == 400 and reason in resp.get_json()["error"]
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_upload_must_be_multipart(app_env):
    _, client = app_env
    resp = client.post("/api/admin/documents", data=b"{}", headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 400 and "multipart/form-data" in resp.get_json()["error"]


def test_upload_over_the_size_limit_is_413_with_reason(app_env):
    settings, client = app_env
    resp = upload(client, ("big.txt", "大".encode() * 400_000))  # 1.2 MB, limit 1 MB
    assert resp.status_code == 413 and "limit is 1 MB" in resp.get_json()["error"]
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())
    assert upload(client, ("small.txt", NEW.encode())).status_code == 200  # the 2 MB search limit does not apply


def test_delete_removes_from_index_and_the_uploaded_file(app_env):
    settings, client = app_env
    upload(client, ("通知.txt", NEW.encode()), title="标题")
    assert "通知" in doc_ids(client)
    resp = client.delete("/api/admin/documents/通知", headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["removed"] == ["通知"] and resp.get_json()["deleted_upload"]
    assert "通知" not in doc_ids(client) and not any(settings.uploads_dir.iterdir())
    assert client.delete("/api/admin/documents/通知", headers=AUTH).status_code == 404
    assert client.delete("/api/admin/documents/" + "x" * 400, headers=AUTH).status_code == 400
    seed = client.delete("/api/admin/documents/2024年工作要点", headers=AUTH).get_json()
    assert seed["removed"] == ["2024年工作要点"] and seed["deleted_upload"] is False  # seeds are never deleted
    assert (settings.seeds_dir / "2024年工作要点.txt").exists()


def test_reindex_adds_seeds_and_uploads(app_env):
    settings, client = app_env
    client.delete("/api/admin/documents/2024年工作要点", headers=AUTH)
    settings.uploads_dir.mkdir()
    (settings.uploads_dir / "手放的.txt").write_text(NEW, encoding="utf-8")
    resp = client.post("/api/admin/reindex", headers=AUTH)
    assert resp.status_code == 200
    assert sorted(resp.get_json()["added"]) == ["2024年工作要点", "手放的"]
    assert doc_ids(client) == {"2024年工作要点", "手放的"}
    assert client.post("/api/admin/reindex", headers=AUTH).get_json()["added"] == []


def test_jsonl_upload_with_a_bad_line_keeps_the_good_ones(app_env):
    settings, client = app_env
    lines = [
        json.dumps({"id": "n1", "title": "通知一", "text": NEW, "type": "notice"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "n2", "title": "通知二", "text": SEED.replace("稳定就业", "保障民生"), "year": 2022},
                   ensure_ascii=False),
    ]
    resp = upload(client, ("批量.jsonl", "\n".join(lines).encode()))
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert sorted(body["added"]) == ["n1", "n2"]
    assert len(body["errors"]) == 1 and body["errors"][0].startswith("批量.jsonl: line 2: invalid JSON")
    assert body["files"][0]["doc_ids"] == ["n1", "n2"] and (settings.uploads_dir / "批量.jsonl").exists()
    removed = client.delete("/api/admin/documents/n1", headers=AUTH).get_json()
    assert removed["removed"] == ["n1"] and removed["deleted_upload"] is False  # n2 still lives in that file
    assert (settings.uploads_dir / "批量.jsonl").exists()
