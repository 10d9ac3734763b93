"""The JSON API with a fake engine: shapes, 400 reasons, 404/405/503 as JSON, batching."""

from __future__ import annotations

import json

import pytest

from indexer.errors import ModelMismatchError
from search_app import create_app
from tests.support.fakes_engine import FakeEngine
from tests.support.settings import test_settings


def error_of(resp, status: int) -> str:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error", "message"} and body["error"]  # message: the reason in Chinese
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    return body["error"]


def test_search_shape_is_search_response_to_dict(client):
    resp = client.get("/api/search", query_string={"q": "高质量发展", "k": "1", "mode": "lexical"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert list(body) == ["query", "took_ms", "mode", "results"]
    assert body["query"] == "高质量发展" and body["mode"] == "lexical" and body["took_ms"] >= 0
    (hit,) = body["results"]
    assert set(hit) >= {
        "rank",
        "score",
        "doc_id",
        "title",
        "heading_path",
        "text",
        "chunk_id",
        "start",
        "end",
        "best_sentence",
        "best_sentence_start",
        "best_sentence_end",
        "page",
        "meta",
    }
    assert hit["rank"] == 1 and hit["heading_path"] == ["一、2023年工作回顾", "（一）经济运行"]
    assert "高质量发展".encode() in resp.data  # Chinese is not \u-escaped


def test_search_defaults_k_and_mode_from_settings(client, engine):
    client.get("/api/search?q=发展")
    assert engine.calls == [("search_many", ["发展"], 10, "hybrid")]


def test_search_returns_passages_raw_not_html(client):
    body = client.get("/api/search?q=学习").get_json()
    assert (
        "<script>alert('x')</script>" in body["results"][0]["text"]
    )  # JSON is data; escaping is the page's job


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "query is empty"),
        ("q=", "query is empty"),
        ("q=%20", "query is empty"),
        ("q=" + "长" * 501, "the limit is 500"),
        ("q=a&k=ten", "k must be an integer"),
        ("q=a&k=2.5", "k must be an integer"),
        ("q=a&k=0", "k must be between 1 and 100"),
        ("q=a&k=-3", "k must be between 1 and 100"),
        ("q=a&k=101", "k must be between 1 and 100"),
        ("q=a&k=%EF%BC%95", "k must be an integer"),  # full-width digit 5
        ("q=a&mode=semantic", "mode must be one of dense, lexical, hybrid"),
    ],
)
def test_bad_search_parameters_are_400_with_reason(client, engine, query, reason):
    assert reason in error_of(client.get("/api/search?" + query), 400)
    assert engine.calls == []


def test_batch_runs_one_search_many_call(client, engine):
    resp = client.post(
        "/api/search/batch", json={"queries": ["高质量发展", " 就业 ", "无结果"], "k": 2, "mode": "dense"}
    )
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["query"] for r in results] == ["高质量发展", "就业", "无结果"]
    assert all(list(r) == ["query", "took_ms", "mode", "results"] for r in results)
    assert len(results[0]["results"]) == 2 and results[2]["results"] == []
    assert engine.calls == [("search_many", ["高质量发展", "就业", "无结果"], 2, "dense")]


def test_batch_defaults(client, engine):
    assert client.post("/api/search/batch", json={"queries": ["发展"]}).status_code == 200
    assert engine.calls == [("search_many", ["发展"], 10, "hybrid")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (json.dumps(["a"]).encode(), "must be a JSON object"),
        (json.dumps({}).encode(), '"queries" must be a list of strings'),
        (json.dumps({"queries": "发展"}).encode(), '"queries" must be a list of strings'),
        (json.dumps({"queries": []}).encode(), '"queries" is empty'),
        (json.dumps({"queries": ["a", 3]}).encode(), "queries[1] must be a string"),
        (json.dumps({"queries": ["a", None]}).encode(), "queries[1] must be a string"),
        (json.dumps({"queries": ["a", "  "]}).encode(), "queries[1]: query is empty"),
        (json.dumps({"queries": ["长" * 501]}).encode(), "queries[0]: query is 501 characters long"),
        (json.dumps({"queries": ["a"], "k": "x"}).encode(), "k must be an integer"),
        (json.dumps({"queries": ["a"], "k": True}).encode(), "k must be an integer"),
        (json.dumps({"queries": ["a"], "k": 1.5}).encode(), "k must be an integer"),
        (json.dumps({"queries": ["a"], "k": 0}).encode(), "k must be between 1 and 100"),
        (json.dumps({"queries": ["a"], "mode": "bm25"}).encode(), "mode must be one of"),
        (json.dumps({"queries": ["a"], "mode": 1}).encode(), "mode must be one of"),
        (json.dumps({"queries": ["a"] * 1001}).encode(), "too many queries: 1001"),
    ],
)
def test_bad_batch_bodies_are_400_with_reason(client, engine, body, reason):
    resp = client.post("/api/search/batch", data=body, content_type="application/json")
    assert reason in error_of(resp, 400)
    assert engine.calls == []


def test_batch_accepts_json_without_content_type(client):
    resp = client.post("/api/search/batch", data=json.dumps({"queries": ["发展"]}), content_type="text/plain")
    assert resp.status_code == 200


def test_batch_limit_follows_settings(tmp_path):
    app = create_app(test_settings(tmp_path, max_batch_queries=2), engine=FakeEngine())
    resp = app.test_client().post("/api/search/batch", json={"queries": ["a", "b", "c"]})
    assert "at most 2" in error_of(resp, 400)


def test_oversized_body_is_413_json(tmp_path):
    app = create_app(test_settings(tmp_path, max_batch_queries=1, max_query_chars=10), engine=FakeEngine())
    resp = app.test_client().post("/api/search/batch", data=b"x" * 200_000, content_type="application/json")
    error_of(resp, 413)


def test_documents_and_health(client, engine):
    docs = client.get("/api/documents").get_json()["documents"]
    assert {d["doc_id"] for d in docs} == {"gwr-2024", "speech-xss", "speech-trad"}
    health = client.get("/api/health").get_json()
    assert health["status"] == "ok" and health["chunks"] == 4
    assert engine.reload_checks == 2


def test_reload_forces_engine_reload(tmp_path):
    engine = FakeEngine()
    client = create_app(test_settings(tmp_path, admin_token="s3cret"), engine=engine).test_client()
    resp = client.post("/api/reload", headers={"Authorization": "Bearer s3cret"})
    assert resp.status_code == 200 and resp.get_json()["reloaded"] is True
    assert engine.reloads == 1
    assert error_of(client.get("/api/reload"), 405)
    assert client.get("/api/reload").headers["Allow"]


def test_reload_is_an_admin_operation(tmp_path, client):
    """Same guard as /api/admin/*: 403 while no token is configured, 401 for a missing or wrong one."""
    assert "admin API disabled" in error_of(client.post("/api/reload"), 403)
    engine = FakeEngine()
    client = create_app(test_settings(tmp_path, admin_token="s3cret"), engine=engine).test_client()
    resp = client.post("/api/reload")
    assert "admin token" in error_of(resp, 401) and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "wrong admin token" in error_of(client.post("/api/reload", headers={"Authorization": "Bearer nope"}), 401)
    assert client.post("/api/reload", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.post("/api/reload", headers={"X-Admin-Token": "s3cret"}).status_code == 200
    assert engine.reloads == 2


def test_unknown_api_route_is_json_404(client):
    assert "no such endpoint" in error_of(client.get("/api/nope"), 404)
    assert error_of(client.get("/api"), 404)


def test_wrong_method_is_json_405(client):
    error_of(client.post("/api/search"), 405)
    error_of(client.get("/api/search/batch"), 405)


def test_no_index_is_503_telling_to_run_make_index(tmp_path):
    client = create_app(test_settings(tmp_path, admin_token="t")).test_client()  # real engine, empty index
    assert "make index" in error_of(client.get("/api/search?q=发展"), 503)
    assert "make index" in error_of(client.get("/api/documents"), 503)
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["status"] == "no_index"
    assert "make index" in error_of(client.post("/api/reload", headers={"X-Admin-Token": "t"}), 503)


def test_model_mismatch_is_503(tmp_path):
    client = create_app(
        test_settings(tmp_path), engine=FakeEngine(fail_with=ModelMismatchError("other model"))
    )
    assert "other model" in error_of(client.test_client().get("/api/search?q=发展"), 503)


def test_unexpected_engine_bug_is_500_without_traceback(tmp_path):
    client = create_app(
        test_settings(tmp_path), engine=FakeEngine(fail_with=RuntimeError("boom"))
    ).test_client()
    msg = error_of(client.get("/api/search?q=发展"), 500)
    assert "boom" not in msg and "Traceback" not in msg


def test_real_engine_serves_a_new_index_version_without_restart(tmp_path):
    """End to end with the real SearchEngine (lexical mode, so no model is loaded)."""
    from tests.support.helpers import PASSAGES, write_test_index

    settings = test_settings(tmp_path)
    client = create_app(settings).test_client()
    write_test_index(settings.index_dir)
    body = client.get("/api/search?q=国内生产总值&mode=lexical&k=3").get_json()
    assert body["results"] and body["results"][0]["doc_id"] == "report-2024"
    v1 = client.get("/api/health").get_json()["version"]

    extra = dict(PASSAGES)
    extra["report-2025"] = (
        "2025年政府工作报告",
        {"year": 2025, "type": "report"},
        [(["一、目标"], "新质生产力加快发展。")],
    )
    write_test_index(settings.index_dir, passages=extra)
    body = client.get("/api/search?q=新质生产力&mode=lexical").get_json()
    assert body["results"][0]["doc_id"] == "report-2025"
    assert client.get("/api/health").get_json()["version"] != v1
