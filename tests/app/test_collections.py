"""Collections through the web layer: the selector, the `collections` parameter, anonymous = public only.

A real SearchEngine over a small index (fake embedder); the admin token of today reads everything.
"""

from __future__ import annotations

import io

import pytest

from indexer.backend import open_store
from indexer.config import Settings
from indexer.metadata import DEFAULT_COLLECTION
from indexer.retrieval import SearchEngine
from search_app import cli as query_cli
from search_app import create_app
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import make_content
from tests.support.settings import test_settings

PASSAGES = {
    "pub": ("公开的发展报告", {"year": 2024, "type": "report"}, [(["一、总体"], "推动高质量发展，稳定就业。")]),
    "office": (
        "办公室内部发展通知",
        {"year": 2024, "type": "notice", "collections": ["办公室"]},
        [(["一、要求"], "推动高质量发展，内部通知。")],
    ),
}
ADMIN = {"Authorization": "Bearer s3cret-admin"}


@pytest.fixture
def settings(tmp_path) -> Settings:
    s = test_settings(index_dir=tmp_path / "index", admin_token="s3cret-admin")
    embedder = FakeEmbedder()
    store = open_store(s)
    with store.lock():
        store.write(make_content(embedder, PASSAGES), {"model": embedder.name, "dim": embedder.dim})
    return s


@pytest.fixture
def client(settings):
    return create_app(settings, engine=SearchEngine.open(settings, FakeEmbedder())).test_client()


def test_anonymous_reads_the_public_collection_only(client):
    body = client.get("/api/search?q=推动高质量发展&k=10").get_json()
    assert [r["doc_id"] for r in body["results"]] == ["pub"]
    assert [d["doc_id"] for d in client.get("/api/documents").get_json()["documents"]] == ["pub"]
    assert client.get("/api/health").get_json()["documents"] == 1
    assert client.get("/doc/office").status_code == 404
    page = client.get("/?q=推动高质量发展").get_data(as_text=True)
    assert "办公室" not in page and "公开的发展报告" in page
    assert 'name="collections"' not in page  # one readable collection: no selector


def test_admin_token_reads_every_collection_and_chooses(client):
    body = client.get("/api/search?q=推动高质量发展&k=10", headers=ADMIN).get_json()
    assert {r["doc_id"] for r in body["results"]} == {"pub", "office"}
    chosen = client.get("/api/search?q=推动高质量发展&collections=办公室", headers=ADMIN).get_json()
    assert [r["doc_id"] for r in chosen["results"]] == ["office"]
    body = {"queries": ["推动高质量发展"], "collections": ["办公室"]}
    batch = client.post("/api/search/batch", json=body, headers=ADMIN)
    assert [r["doc_id"] for r in batch.get_json()["results"][0]["results"]] == ["office"]
    page = client.get("/?q=推动高质量发展", headers=ADMIN).get_data(as_text=True)
    assert 'name="collections" value="办公室"' in page and f'value="{DEFAULT_COLLECTION}"' in page


def test_an_unreadable_collection_is_refused_like_an_unknown_one(client):
    forbidden = client.get("/api/search?q=发展&collections=办公室")
    unknown = client.get("/api/search?q=发展&collections=没有这个")
    assert forbidden.status_code == unknown.status_code == 400
    assert forbidden.get_json()["error"].replace("办公室", "X") == unknown.get_json()["error"].replace("没有这个", "X")


def test_query_cli_takes_collections(settings, monkeypatch):
    monkeypatch.setenv("POLICY_SEARCH_INDEX_DIR", str(settings.index_dir))
    out, err = io.StringIO(), io.StringIO()
    argv = ["query", "--format", "jsonl", "--collection", "办公室", "推动高质量发展"]
    opener = lambda s: SearchEngine.open(s, FakeEmbedder())  # noqa: E731
    assert query_cli.main(argv, stdout=out, stderr=err, open_engine=opener) == 0, err.getvalue()
    assert '"doc_id": "office"' in out.getvalue() and '"doc_id": "pub"' not in out.getvalue()
