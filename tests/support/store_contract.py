"""The store contract as a reusable test class (like haystack's DocumentStore test classes): every backend runs
it by subclassing `StoreContract` with a `store_settings` fixture (tests/store/test_contract.py for FAISS and
Milvus Lite, tests/e2e/test_milvus_server.py for a real Milvus server). See indexer/store/protocol.py."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.backend import IndexReader, IndexStore, open_store
from indexer.config import Settings
from indexer.errors import IndexNotFoundError
from indexer.filters import Filters
from indexer.retrieval import SearchEngine
from indexer.store import FaissStore
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import PASSAGES, make_content
from tests.support.settings import test_settings

MANIFEST = {"model": FakeEmbedder.name, "dim": FakeEmbedder.dim, "chunker": "test"}
NOTICE = {
    "notice": ("防汛通知", {"year": 2025, "type": "notice"}, [(["一、要求"], "做好防汛抗旱工作，落实防汛责任制。")])
}
QUERIES = ("意识形态安全", "国内生产总值增长", "学习全会精神", "防汛抗旱")


def ranked(engine: SearchEngine, filters: Filters | None = None) -> list:
    return [
        [(r.chunk_id, round(r.score, 4)) for r in engine.search(q, k=5, mode=mode, filters=filters).results]
        for q in QUERIES
        for mode in ("dense", "lexical", "hybrid")
    ]


class StoreContract:
    """Subclasses provide `store_settings`: Settings of an empty index on the backend under test."""

    @pytest.fixture
    def store(self, store_settings: Settings) -> IndexStore:
        return open_store(store_settings)

    @staticmethod
    def engine(settings: Settings) -> SearchEngine:
        return SearchEngine.open(settings, embedder=FakeEmbedder())

    def test_an_empty_store_has_no_version(self, store):
        assert isinstance(store, IndexStore) and store.current_name() is None
        with pytest.raises(IndexNotFoundError):
            store.open_current()

    def test_write_then_read_everything_back(self, store):
        content = make_content()
        with store.lock():
            name = store.write(content, MANIFEST)
        v = store.open_current()
        assert isinstance(v, IndexReader) and v.name == name == store.current_name()
        assert v.n_chunks == 5 and [d["doc_id"] for d in v.documents()] == ["speech", "report-2024"]
        assert v.chunks_at([4, 0]) == [content.chunks[4], content.chunks[0]]
        assert v.row_of("report-2024#1") == 4 and v.row_of("nope#1") is None
        np.testing.assert_allclose(v.vector(3), content.embeddings[3], atol=1e-3)
        assert v.chunks_of("speech") == content.chunks[:3] and v.chunks_of("nope") == []
        assert v.document("report-2024").text == content.documents[1].text and v.document("nope") is None
        speech = content.documents[0]
        assert v.known_documents()["speech"] == ("h-speech", speech.title, {"year": 2021, "type": "speech"})
        back = v.content()
        assert back.chunks == content.chunks and back.tokens == content.tokens

    def test_add_delete_and_optimize_rank_like_a_fresh_build(self, store, store_settings, tmp_path):
        with store.lock():
            store.write(make_content(passages={"speech": PASSAGES["speech"]}), MANIFEST)
            first = store.current_name()
            store.add(make_content(passages={"report-2024": PASSAGES["report-2024"], **NOTICE}), MANIFEST)
            assert store.current_name() != first
            store.delete(("notice", "no-such-document"))
            store.add(make_content(passages={"speech": PASSAGES["speech"]}), MANIFEST, replace=("speech",))
        v = store.open_current()
        assert [d["doc_id"] for d in v.documents()] == ["report-2024", "speech"] and v.n_chunks == 5
        assert v.document("notice") is None and v.row_of("notice#0") is None
        fresh = test_settings(index_dir=tmp_path / "fresh")
        with FaissStore(fresh.index_dir).lock():
            FaissStore(fresh.index_dir).write(make_content(passages={"report-2024": PASSAGES["report-2024"],
                                                                     "speech": PASSAGES["speech"]}), MANIFEST)
        expected = ranked(self.engine(fresh))
        assert ranked(self.engine(store_settings)) == expected
        with store.lock():
            store.optimize()
        assert ranked(self.engine(store_settings)) == expected

    def test_collection_scope_is_enforced_before_ranking(self, store, store_settings):
        names = ("办公室", "公开", "宣传部")
        passages = {
            doc_id: (title, {**meta, "collections": [name]}, sections)
            for (doc_id, (title, meta, sections)), name in zip({**PASSAGES, **NOTICE}.items(), names)
        }
        with store.lock():
            store.write(make_content(passages=passages), MANIFEST)
        engine = self.engine(store_settings)
        v = engine.version
        q = FakeEmbedder().encode_queries(["意识形态安全屏障"])[0]
        nothing = v.allowed_rows(collections=frozenset())
        assert v.dense(q, 5, nothing)[0].size == 0 and v.bm25.search(["意识形态"], 5, nothing)[0].size == 0
        public = Filters(readable=frozenset({"公开"}))
        for mode in ("dense", "lexical", "hybrid"):
            got = engine.search("意识形态安全 国内生产总值", k=2, mode=mode, filters=public).results
            assert [r.doc_id for r in got] == ["report-2024", "report-2024"], mode  # filled from the scope
        assert engine.similar("speech#1", k=3, filters=public) is None  # a hidden passage is like a missing one
        assert {r.doc_id for r in engine.similar("report-2024#0", k=3, filters=public).results} == {"report-2024"}

    def test_a_failed_write_publishes_nothing(self, store):
        with store.lock():
            name = store.write(make_content(), MANIFEST)
            bad = make_content()
            bad.tokens = bad.tokens[:-1]
            with pytest.raises(ValueError):
                store.add(bad, MANIFEST)
        assert store.current_name() == name and store.open_current().n_chunks == 5

    def test_stats_say_where_lexical_search_runs(self, store):
        with store.lock():
            store.write(make_content(), MANIFEST)
        stats = store.stats()
        assert stats["backend"] in ("faiss", "milvus") and "BM25" in stats["lexical"]

