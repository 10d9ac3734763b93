"""Readiness: while the server warms up, /api/health says 503 starting and the page says 正在加载."""

from __future__ import annotations

import io

from search_app import create_app
from search_app.cli import _warm_up
from search_app.state import EXTENSION_KEY
from tests.support.fakes_engine import FakeEngine
from tests.support.settings import test_settings


def test_starting_until_warm_up_ends(tmp_path):
    engine = FakeEngine(test_settings(tmp_path))
    app = create_app(test_settings(tmp_path), engine=engine)
    client = app.test_client()
    holder = app.extensions[EXTENSION_KEY]
    holder.begin_warm_up()
    resp = client.get("/api/health")
    assert resp.status_code == 503 and resp.get_json()["status"] == "starting"
    assert resp.headers["Retry-After"] == "2" and resp.get_json()["message"]
    page = client.get("/?q=发展")
    html = page.get_data(as_text=True)
    assert page.status_code == 503 and "正在加载" in html and 'http-equiv="refresh"' in html and "发展" in html
    assert not [c for c in engine.calls if c[0] == "search_many"]  # nothing waited behind the warm-up
    holder.end_warm_up()
    assert client.get("/api/health").status_code == 200
    assert client.get("/?q=发展").status_code == 200


def test_warm_up_runs_queries_then_says_ready(tmp_path):
    engine = FakeEngine(test_settings(tmp_path))
    app = create_app(test_settings(tmp_path), engine=engine)
    holder = app.extensions[EXTENSION_KEY]
    holder.begin_warm_up()
    out, err = io.StringIO(), io.StringIO()
    _warm_up(app, out, err, "http://127.0.0.1:5000/")
    assert "Ready: http://127.0.0.1:5000/" in out.getvalue() and not holder.starting
    assert [c for c in engine.calls if c[0] == "search_many"]  # the query path ran before "ready"


def test_an_app_nobody_warms_up_is_ready_at_once(client):
    assert client.get("/api/health").status_code == 200
