"""Version switching without herds, back-off for a broken newest version, and honest health (issue 11).

Real FAISS + SQLite store, fake embedder. Findings covered: 4 (herd on a new version), 5 (a broken
newest version retried on every request, health ok), 6 (a truncated chunks.sqlite: search 500, health ok).
"""

from __future__ import annotations

import threading
import time

import pytest

from indexer.errors import IndexCorruptError
from indexer.retrieval import SearchEngine
from indexer.store import read_manifest
from search_app import create_app
from tests.support.fakes import FakeEmbedder
from tests.support.fakes_engine import test_settings
from tests.support.helpers import write_test_index


class CountingStore:
    """Wraps the engine's store: counts (and slows down) version opens, to make a herd visible."""

    def __init__(self, store, delay: float = 0.0):
        self._store, self.delay, self.opens = store, delay, 0
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self._store, name)

    def open_current(self):
        with self._lock:
            self.opens += 1
        time.sleep(self.delay)
        return self._store.open_current()


@pytest.fixture
def engine_env(tmp_path):
    settings = test_settings(tmp_path, version_retry_s=60.0)
    embedder = FakeEmbedder()
    write_test_index(settings.index_dir, embedder)
    engine = SearchEngine.open(settings, embedder=embedder)
    return settings, embedder, engine


def test_a_new_version_is_loaded_once_however_many_threads_notice_it(engine_env):
    settings, embedder, engine = engine_env
    counting = CountingStore(engine.store, delay=0.2)
    engine.store = counting
    new = write_test_index(settings.index_dir, embedder)
    barrier = threading.Barrier(8)

    def request():
        barrier.wait()
        engine.reload_if_changed()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.version.name == new
    assert counting.opens == 1, f"{counting.opens} loads of one new version"


def _newest_segment(index_dir):
    return index_dir / "segments" / read_manifest(index_dir)["segments"][-1]["name"]


def _publish_broken_version(settings, embedder) -> str:
    name = write_test_index(settings.index_dir, embedder)
    (_newest_segment(settings.index_dir) / "segment.json").write_text("{broken", encoding="utf-8")
    return name


def test_a_broken_newest_version_is_not_retried_on_every_request(engine_env, caplog):
    settings, embedder, engine = engine_env
    old = engine.version.name
    client = create_app(settings, engine=engine).test_client()
    counting = CountingStore(engine.store)
    engine.store = counting
    broken = _publish_broken_version(settings, embedder)
    for _ in range(20):
        assert client.get("/api/search?q=国内生产总值&mode=lexical").status_code == 200
    assert counting.opens == 1, f"the broken version was opened {counting.opens} times in 20 requests"
    assert engine.version.name == old
    warnings = [r for r in caplog.records if "not loaded" in r.getMessage()]
    assert len(warnings) <= 1
    health = client.get("/api/health")
    body = health.get_json()
    assert health.status_code == 200 and body["status"] == "degraded", body  # the old version still serves
    assert broken in body["reason"] and old in body["reason"] and body["version"] == old


def test_the_broken_version_is_retried_after_the_back_off(engine_env):
    settings, embedder, engine = engine_env
    engine.settings = test_settings(settings.index_dir.parent, version_retry_s=0.05)
    counting = CountingStore(engine.store)
    engine.store = counting
    _publish_broken_version(settings, embedder)
    with pytest.raises(IndexCorruptError):
        engine.reload_if_changed()
    assert not engine.reload_if_changed() and counting.opens == 1  # backing off
    time.sleep(0.1)
    good = write_test_index(settings.index_dir, embedder)  # the operator publishes a fixed version
    assert engine.reload_if_changed() and engine.version.name == good
    assert engine.health()["status"] == "ok"


def test_an_unreadable_live_store_is_503_with_a_reason_and_health_says_so(engine_env):
    settings, _, engine = engine_env
    client = create_app(settings, engine=engine).test_client()
    assert client.get("/api/health").get_json()["status"] == "ok"
    db = _newest_segment(settings.index_dir) / "chunks.sqlite"
    db.write_bytes(db.read_bytes()[:1500])  # truncated under the running engine
    resp = client.get("/api/search?q=国内生产总值&mode=lexical")
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert "cannot be read" in resp.get_json()["error"]
    health = client.get("/api/health")
    body = health.get_json()
    assert health.status_code == 503 and body["status"] == "degraded" and "cannot be read" in body["reason"]
