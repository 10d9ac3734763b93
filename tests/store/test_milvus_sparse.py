"""BM25 inside Milvus (sparse vectors, indexer/store/milvus_sparse.py) scores exactly like the in-process BM25 of
the FAISS backend on a fixed corpus: after a build, and after adds, removes and replaces (which move N, df and
the average length), where a reader rescores the rows written with an older average length. And a reader of a
newer generation reads only what was written since, with sparse vectors and with the in-process BM25 (Milvus
Lite and the real 2.3.5 server), ranking as a reader that read everything."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store import FaissStore, IndexContent
from indexer.store.milvus import MilvusStore
from indexer.store.milvus_client import ServerCaps
from indexer.store.milvus_sparse import SparseBM25, TermStats

WORDS = [f"词{i:02d}" for i in range(80)]
MANIFEST = {"model": "fake", "dim": 8, "chunker": "test"}
_names = itertools.count()


def corpus(first: int, count: int, seed: int = 7) -> IndexContent:
    """Documents first..first+count-1, 6 passages each, tokens drawn (Zipf-like) from WORDS; one empty passage."""
    rng = np.random.default_rng(seed + first)
    p = 1.0 / np.arange(1, len(WORDS) + 1)
    p /= p.sum()
    docs, chunks, tokens = [], [], []
    for d in range(first, first + count):
        doc_id = f"d{d:03d}"
        docs.append(Document(doc_id=doc_id, title=doc_id, text="x" * 6, content_hash=doc_id, meta={"year": 2020}))
        for o in range(6):
            n = 0 if (d, o) == (first, 0) else int(rng.integers(1, 40))
            tokens.append([WORDS[i] for i in rng.choice(len(WORDS), size=n, p=p)])
            chunks.append(Chunk(f"{doc_id}#{o}", doc_id, doc_id, [], "x", o, o + 1, ordinal=o))
    v = rng.normal(size=(len(chunks), 8)).astype(np.float32)
    return IndexContent(docs, chunks, v / np.linalg.norm(v, axis=1, keepdims=True), tokens)


def queries() -> list[dict[str, float]]:
    rng = np.random.default_rng(3)
    out = [{w: 1.0} for w in WORDS[::7]]
    out += [dict.fromkeys(rng.choice(WORDS, size=3, replace=False).tolist(), 1.0) for _ in range(12)]
    out += [{WORDS[1]: 1.0, WORDS[30]: 0.35, "不在词表": 1.0}]
    return out


def ranking(version, query: dict[str, float], n: int = 10) -> list[tuple[str, float]]:
    bm25 = version.bm25
    rows, scores = bm25.search_weighted(query, n) if len(set(query.values())) > 1 else bm25.search(list(query), n)
    ids = [c.chunk_id for c in version.chunks_at(rows.tolist())]
    return list(zip(ids, scores.tolist()))


def assert_same_rankings(milvus_version, faiss_version) -> None:
    for q in queries():
        got, want = ranking(milvus_version, q), ranking(faiss_version, q)
        assert [c for c, _ in got] == [c for c, _ in want], q
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=2e-6)
    for w in WORDS:
        assert milvus_version.bm25.term_idf(w) == pytest.approx(faiss_version.bm25.term_idf(w), rel=1e-6)


def faiss_of(tmp_path, content: IndexContent):
    store = FaissStore(tmp_path / f"faiss{next(_names)}")
    with store.lock():
        store.write(content, MANIFEST)
    return store.open_current()


def merged(*parts: IndexContent, drop: frozenset[str] = frozenset()) -> IndexContent:
    out = IndexContent([], [], np.zeros((0, 8), dtype=np.float32), [])
    for part in parts:
        keep = part.rows_where(lambda d: d not in drop)
        out = IndexContent(out.documents + keep.documents, out.chunks + keep.chunks,
                           np.concatenate([out.embeddings, keep.embeddings]), out.tokens + keep.tokens)
    return out


@pytest.fixture
def milvus(milvus_lite_uri, tmp_path) -> MilvusStore:
    return MilvusStore(milvus_lite_uri, f"sp{os.getpid()}_{next(_names)}", lock_dir=tmp_path)


@pytest.mark.slow  # Milvus Lite starts a server
def test_a_build_scores_like_the_in_process_bm25(milvus, tmp_path):
    content = corpus(0, 30)
    with milvus.lock():
        milvus.write(content, MANIFEST)
    v = milvus.open_current()
    assert isinstance(v.bm25, SparseBM25) and not v.bm25.drift  # no tokens in the reader, Milvus's scores used
    assert milvus.stats()["lexical_mode"] == "milvus-sparse" and v.manifest["lexical"] == "milvus-sparse"
    assert_same_rankings(v, faiss_of(tmp_path, content))
    nothing = np.zeros(v.n_chunks, dtype=bool)
    assert v.bm25.search([WORDS[0]], 5, nothing)[0].size == 0


@pytest.mark.slow
def test_adds_removes_and_replaces_score_like_a_fresh_build(milvus, tmp_path):
    first, second, third = corpus(0, 20), corpus(20, 10), corpus(30, 4, seed=11)
    with milvus.lock():
        milvus.write(first, MANIFEST)
        milvus.add(second, MANIFEST)
        milvus.delete(("d003", "d021", "nope"))
        milvus.add(third.rows_where(lambda d: d != "d033"), MANIFEST)
        replacement = corpus(5, 1, seed=99)  # d005 with other text
        milvus.add(replacement, MANIFEST, replace=("d005",))
    v = milvus.open_current()
    assert v.bm25.drift  # rows of earlier generations were weighted with another average length
    drop = frozenset({"d003", "d021", "d033", "d005"})
    fresh = faiss_of(tmp_path, merged(merged(first, second, third, drop=drop), replacement))
    assert [d["doc_id"] for d in v.documents()] == [d["doc_id"] for d in fresh.documents()]
    assert_same_rankings(v, fresh)


@pytest.mark.slow
def test_the_in_process_mode_still_builds_bm25_from_tokens(milvus_lite_uri, tmp_path):
    store = MilvusStore(milvus_lite_uri, f"sp{os.getpid()}_{next(_names)}", lock_dir=tmp_path, lexical="process")
    content = corpus(0, 5)
    with store.lock():
        store.write(content, MANIFEST)
    v = store.open_current()
    assert isinstance(v.bm25, BM25Index) and v.manifest["lexical"] == "in-process"
    assert store.stats()["lexical_mode"] == "in-process"
    assert_same_rankings(v, faiss_of(tmp_path, content))


def test_capabilities_and_statistics():
    assert ServerCaps.from_version("milvus_lite-3.2.2").sparse and ServerCaps.from_version("v2.4.0").sparse
    assert not ServerCaps.from_version("v2.3.5").sparse
    s = TermStats()
    s.change([["a", "b", "a"], []], [])
    s.change([["c"]], [["a", "b", "a"]])
    assert (s.n, s.length) == (2, 1) and s.df[s.vocab["a"]] == 0 and s.idf()[s.vocab["a"]] == 0
    assert s.weights([[]]) == [{0: 1.0}]  # Milvus refuses an empty sparse vector: a placeholder no query holds


@pytest.mark.slow
def test_a_reader_of_the_next_generation_reads_only_what_changed(milvus, milvus_lite_uri, tmp_path):
    with milvus.lock():
        milvus.write(corpus(0, 12), MANIFEST)
    first = milvus.open_current()
    with milvus.lock():
        milvus.add(corpus(12, 3), MANIFEST)
        milvus.delete(("d002", "d013"))
        milvus.add(corpus(4, 1, seed=5), MANIFEST, replace=("d004",))
    grown = milvus.open_current()  # starts from `first`
    fresh = MilvusStore(milvus_lite_uri, milvus.alias, lock_dir=tmp_path).open_current()  # reads everything
    assert grown.reused and not first.reused and not fresh.reused and grown.name == fresh.name
    np.testing.assert_array_equal(grown.pk, fresh.pk)
    np.testing.assert_array_equal(grown.row_doc, fresh.row_doc)
    assert grown.documents() == fresh.documents()
    assert grown.bm25.vocab == fresh.bm25.vocab and grown.bm25.drift == fresh.bm25.drift
    np.testing.assert_array_equal(grown.bm25.idf, fresh.bm25.idf)
    for q in queries():
        assert ranking(grown, q) == ranking(fresh, q)


@pytest.mark.slow
def test_keyword_mode_counts_to_facet_depth_on_the_sparse_path(milvus_lite_uri, tmp_path):
    from indexer.backend import open_store
    from indexer.retrieval import SearchEngine
    from tests.support.fakes import FakeEmbedder
    from tests.support.helpers import make_content
    from tests.support.settings import test_settings

    name = f"sp{os.getpid()}_{next(_names)}"
    settings = test_settings(tmp_path, milvus_uri=milvus_lite_uri, milvus_collection=name, facet_depth=1)
    store = open_store(settings)
    with store.lock():
        store.write(make_content(), {"model": FakeEmbedder.name, "dim": FakeEmbedder.dim, "chunker": "test"})
    got = SearchEngine.open(settings, embedder=FakeEmbedder()).search("国内生产总值", k=5, mode="lexical")
    assert len(got.results) == 2 and (got.total, got.total_relation) == (1, "gte")  # two match, counted 1 deep
    full = SearchEngine.open(replace(settings, facet_depth=1000), embedder=FakeEmbedder())
    got = full.search("国内生产总值", k=5, mode="lexical")
    assert (got.total, got.total_relation) == (2, "eq")


def count_reads(monkeypatch, client) -> Counter:
    """Rows the client's queries return from now on: chunk rows, those with tokens, document heads."""
    seen: Counter = Counter()
    real = client.query

    def query(collection, **kwargs):
        rows = real(collection, **kwargs)
        fields = kwargs.get("output_fields") or []
        if collection.endswith("_docs"):
            seen["document_heads"] += len(rows) if "title" in fields else 0
        else:
            seen["rows"] += len(rows) if "row" in fields else 0
            seen["token_rows"] += len(rows) if "tokens" in fields else 0
        return rows

    monkeypatch.setattr(client, "query", query)
    return seen


@pytest.fixture(params=["lite", "server"])
def in_process(request, milvus_lite_uri, tmp_path) -> MilvusStore:
    """A store whose BM25 runs in the process: Milvus Lite told so, and the real 2.3.5 server (no sparse vectors)."""
    uri = milvus_lite_uri if request.param == "lite" else request.getfixturevalue("milvus_server")
    return MilvusStore(uri, f"ip{os.getpid()}_{next(_names)}", lock_dir=tmp_path, lexical="process")


@pytest.mark.slow
def test_an_in_process_reader_of_the_next_generation_reads_only_what_changed(in_process, tmp_path, monkeypatch):
    store = in_process
    first_docs, added, replacement = corpus(0, 12), corpus(12, 3), corpus(4, 1, seed=5)
    with store.lock():
        store.write(first_docs, MANIFEST)
    first = store.open_current()
    assert isinstance(first.bm25, BM25Index) and not first.reused
    with store.lock():
        store.add(added, MANIFEST)
        store.delete(("d002", "d013"))
        store.add(replacement, MANIFEST, replace=("d004",))
    seen = count_reads(monkeypatch, store.client)
    grown = store.open_current()  # starts from `first`
    read = dict(seen)
    monkeypatch.undo()
    # the rows, tokens and document heads of the two adds' live documents (d012, d014, the new d004; 6 passages
    # each), no more
    assert read == {"rows": 18, "token_rows": 18, "document_heads": 3}
    fresh = MilvusStore(store.uri, store.alias, lock_dir=tmp_path, lexical="process").open_current()
    assert grown.reused and not fresh.reused and grown.name == fresh.name and grown.lexical == "in-process"
    np.testing.assert_array_equal(grown.pk, fresh.pk)
    np.testing.assert_array_equal(grown.row_doc, fresh.row_doc)
    assert grown.documents() == fresh.documents() and grown.known_documents() == fresh.known_documents()
    for q in queries():
        assert ranking(grown, q) == ranking(fresh, q)
    drop = frozenset({"d002", "d013", "d004"})
    assert_same_rankings(grown, faiss_of(tmp_path, merged(merged(first_docs, added, drop=drop), replacement)))
    with store.lock():  # a remove only: nothing new to read, the removed rows leave BM25's statistics
        store.delete(("d000", "d014"))
    seen = count_reads(monkeypatch, store.client)
    removed = store.open_current()
    assert removed.reused and seen["token_rows"] == 0 and seen["document_heads"] == 0
    monkeypatch.undo()
    drop |= {"d000", "d014"}
    assert_same_rankings(removed, faiss_of(tmp_path, merged(merged(first_docs, added, drop=drop), replacement)))
