"""The same engine and pipeline behaviour on both stores: FAISS + SQLite and Milvus (Milvus Lite, in-process).

Every test taking `settings` runs once per backend. Milvus tests share one Milvus Lite file per session (a Lite
file serves one process; starting it costs ~0.3 s), each test under its own collection name.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time

import numpy as np
import pytest

from indexer import cli
from indexer.backend import FaissStore, IndexReader, IndexStore, open_store
from indexer.config import PROJECT_ROOT, Settings
from indexer.errors import IndexNotFoundError, ModelMismatchError, SearchEngineError
from indexer.filters import Filters
from indexer.models import Chunk, Document
from indexer.pipeline import add_documents, build_index, list_documents, remove_documents
from indexer.retrieval import SearchEngine
from indexer.store.milvus import MilvusStore, migrate_from_faiss
from indexer.store.milvus_client import DOCS_SUFFIX, MAX_VARCHAR, PART_CHARS, filter_expr
from tests.support.corpus import CORPUS_DIR, REPORT, SEEDS_DIR
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import PASSAGES, make_content
from tests.support.settings import test_settings

_names = itertools.count()


@pytest.fixture(scope="session")
def lite_uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "test.db")


def _milvus_settings(tmp_path, lite_uri, **kw) -> Settings:
    name = f"t{os.getpid()}_{next(_names)}"
    return test_settings(index_dir=tmp_path / "index", milvus_uri=lite_uri, milvus_collection=name, **kw)


@pytest.fixture(params=["faiss", pytest.param("milvus", marks=pytest.mark.slow)])  # Milvus Lite starts a server: slow
def settings(request, tmp_path, lite_uri) -> Settings:
    if request.param == "faiss":
        return test_settings(index_dir=tmp_path / "index")  # no POLICY_SEARCH_MILVUS_URI from outside
    return _milvus_settings(tmp_path, lite_uri)


def write(settings: Settings, passages: dict = PASSAGES, embedder: FakeEmbedder | None = None) -> str:
    embedder = embedder or FakeEmbedder()
    store = open_store(settings)
    with store.lock():
        return store.write(make_content(embedder, passages), {"model": embedder.name, "dim": embedder.dim})


def ranked(response) -> list[tuple[str, float]]:
    return [(r.chunk_id, round(r.score, 4)) for r in response.results]


# ---------------------------------------------------------------- the same suite on both


def test_setting_picks_the_backend(settings):
    store = open_store(settings)
    assert isinstance(store, IndexStore)
    assert isinstance(store, MilvusStore if settings.milvus_uri else FaissStore)
    write(settings)
    assert isinstance(store.open_current(), IndexReader)


def test_build_list_and_every_mode(corpus, settings):
    report = build_index([corpus], settings, embedder=FakeEmbedder())
    assert sorted(report.added) == ["report", "speech"] and report.chunks == 5
    assert {d["doc_id"]: d["chunks"] for d in list_documents(settings)} == {"report": 2, "speech": 3}
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.health()["version"] == report.version
    for mode in ("dense", "lexical", "hybrid"):
        top = engine.search("筑牢意识形态安全屏障", k=3, mode=mode).results[0]
        assert top.doc_id == "speech", mode
    top = engine.search("意识形态安全屏障", k=1, mode="lexical").results[0]
    assert top.heading_path[-1].startswith("二是进一步筑牢意识形态安全屏障") and top.best_sentence


def test_add_replaces_changed_skips_unchanged(corpus, settings):
    fake = FakeEmbedder()
    build_index([corpus], settings, embedder=fake)
    (corpus / "report.txt").write_text(REPORT.replace("5.2%", "5.3%"), encoding="utf-8")
    notice = "关于做好防汛工作的通知\n各地要做好防汛抗旱准备，落实防汛责任制。"
    (corpus / "notice.txt").write_text(notice, encoding="utf-8")
    fake.calls.clear()
    report = add_documents([corpus], settings, embedder=fake)
    assert (report.added, report.replaced, report.unchanged) == (["notice"], ["report"], ["speech"])
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    embedded = sum(n for kind, n in fake.calls if kind == "passage")
    assert embedded == len(engine.chunks_of("report")) + len(engine.chunks_of("notice"))
    texts = " ".join(c.text for c in engine.chunks_of("report"))
    assert "5.3%" in texts and "5.2%" not in texts
    assert engine.search("防汛抗旱", k=1, mode="hybrid").results[0].doc_id == "notice"
    again = add_documents([corpus], settings, embedder=fake)
    assert again.version == report.version and not again.added  # nothing changed: no new version


def test_remove(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    report = remove_documents(["speech", "nope"], settings)
    assert report.removed == ["speech"] and report.errors == ["nope: no such document in the index"]
    assert [d["doc_id"] for d in list_documents(settings)] == ["report"]
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert {r.doc_id for r in engine.search("意识形态", k=10, mode="hybrid").results} <= {"report"}
    assert engine.document("speech") is None and engine.chunks_of("speech") == []


def test_filters(settings):
    write(settings)
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    for mode in ("dense", "lexical", "hybrid"):
        got = engine.search("学习 国内生产总值", k=10, mode=mode, filters=Filters(doc_types=("report",)))
        assert got.results and {r.doc_id for r in got.results} == {"report-2024"}, mode
    assert {r.doc_id for r in engine.search("学习", k=10, mode="dense", filters=Filters(year_to=2022)).results} == {
        "speech"
    }
    got = engine.search("学习", k=10, mode="dense", filters=Filters(year_from=2022, year_to=2024))
    assert {r.doc_id for r in got.results} == {"report-2024"}
    got = engine.search("学习", k=10, mode="dense", filters=Filters(doc_ids=("speech", "unknown")))
    assert len(got.results) == 3 and {r.doc_id for r in got.results} == {"speech"}
    assert engine.search("学习", k=10, mode="hybrid", filters=Filters(year_from=2030)).results == []


def test_similar(settings):
    write(settings)
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    resp = engine.similar("report-2024#1", k=3)
    assert "report-2024#1" not in [r.chunk_id for r in resp.results]
    assert resp.results[0].doc_id != "report-2024"  # other documents first
    same = engine.similar("report-2024#1", k=3, same_document=True)
    assert same.results[0].chunk_id == "report-2024#0"
    assert engine.similar("no-such#9") is None


def test_model_mismatch(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())

    class Other(FakeEmbedder):
        name = "another-model"

    with pytest.raises(ModelMismatchError, match="fake-hash"):
        SearchEngine.open(settings, embedder=Other())
    with pytest.raises(ModelMismatchError):
        add_documents([corpus], settings, embedder=Other())


def test_engine_follows_a_new_version(settings):
    write(settings)
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.reload_if_changed() is False and engine.health()["chunks"] == 5
    extra = dict(PASSAGES, notice=("通知", {"year": 2025, "type": "notice"}, [(["一、要求"], "做好防汛抗旱工作。")]))
    write(settings, extra)
    assert engine.reload_if_changed() is True and engine.health()["chunks"] == 6
    assert engine.search("防汛抗旱", k=1, mode="lexical").results[0].doc_id == "notice"


def test_no_index_is_a_clear_error(settings):
    with pytest.raises(IndexNotFoundError):
        SearchEngine.open(settings, embedder=FakeEmbedder())


def test_content_round_trips(settings):
    """Long documents (split in parts on Milvus), pages, metadata, vectors and tokens come back as written."""
    long_text = "第一章 总则。" * (PART_CHARS // 3)  # over two parts
    content = make_content()
    content.documents.append(
        Document("long", "长文档", long_text, "x.pdf", "h-long", meta={"year": 2020, "type": "notice", "n": [1]})
    )
    content.chunks.append(Chunk("long#0", "long", "长文档", ["第一章"], long_text[:60], 0, 60, ordinal=0, page=3))
    content.embeddings = np.vstack([content.embeddings, FakeEmbedder().encode_passages([long_text[:60]])])
    content.tokens.append(["第一章", "总则"])
    store = open_store(settings)
    with store.lock():
        store.write(content, {"model": "fake-hash", "dim": 64})
    version = store.open_current()
    back = version.content()
    assert [dataclasses.asdict(d) for d in back.documents] == [dataclasses.asdict(d) for d in content.documents]
    assert back.chunks == content.chunks and back.tokens == content.tokens
    np.testing.assert_allclose(back.embeddings, content.embeddings, atol=1e-3)  # FAISS keeps a float16 copy
    assert version.document("long").text == long_text and version.chunks_of("long")[0].page == 3


def test_web_app_serves_from_either_store(settings):
    from search_app import create_app

    write(settings)
    app = create_app(settings, engine=SearchEngine.open(settings, embedder=FakeEmbedder()))
    client = app.test_client()
    got = client.get("/api/search", query_string={"q": "失业率", "type": "report", "mode": "hybrid"}).get_json()
    assert got["results"][0]["doc_id"] == "report-2024"
    assert client.get("/api/health").get_json()["chunks"] == 5
    page = client.get("/doc/report-2024")
    assert page.status_code == 200 and "1244万人" in page.get_data(as_text=True)


# ---------------------------------------------------------------- the two agree


@pytest.mark.slow
def test_backends_rank_alike(tmp_path, lite_uri):
    faiss_settings = test_settings(index_dir=tmp_path / "faiss")
    milvus_settings = _milvus_settings(tmp_path, lite_uri)
    write(faiss_settings)
    write(milvus_settings)
    engines = [SearchEngine.open(s, embedder=FakeEmbedder()) for s in (faiss_settings, milvus_settings)]
    filters = [None, Filters(doc_types=("speech",)), Filters(year_from=2022), Filters(doc_ids=("report-2024",))]
    for query in ("意识形态安全", "国内生产总值增长", "学习全会精神"):
        for mode in ("dense", "lexical", "hybrid"):
            for f in filters:
                a, b = (ranked(e.search(query, k=4, mode=mode, filters=f)) for e in engines)
                assert a == b, (query, mode, f)
    a, b = (ranked(e.similar("speech#1", k=3)) for e in engines)
    assert a == b


@pytest.mark.slow
def test_hnsw_index_type(tmp_path, lite_uri):
    settings = _milvus_settings(tmp_path, lite_uri, milvus_index="HNSW")
    write(settings)
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.search("国内生产总值增长5%左右", k=1, mode="dense").results[0].chunk_id == "report-2024#1"


# ---------------------------------------------------------------- Milvus versions


def _collections(settings: Settings) -> list[str]:
    store = open_store(settings)
    return sorted(n for n in store.client.list_collections() if n.startswith(settings.milvus_collection + "_"))


@pytest.mark.slow
def test_milvus_keeps_versions_and_moves_the_alias(tmp_path, lite_uri):
    settings = _milvus_settings(tmp_path, lite_uri, keep_versions=2)
    names = [write(settings) for _ in range(4)]
    assert _collections(settings) == sorted([*names[2:], *(n + DOCS_SUFFIX for n in names[2:])])
    assert open_store(settings).current_name() == names[-1]


@pytest.mark.slow
def test_milvus_failed_write_leaves_the_live_version(tmp_path, lite_uri, monkeypatch):
    settings = _milvus_settings(tmp_path, lite_uri)
    first = write(settings)
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    client = open_store(settings).client

    def boom(*args, **kwargs):
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(client, "flush", boom)
    with pytest.raises(RuntimeError):
        write(settings)
    assert _collections(settings) == [first, first + DOCS_SUFFIX]  # the half-written one was dropped
    monkeypatch.undo()
    monkeypatch.setattr(client, "alter_alias", boom)  # written, but never switched to: a dead writer's leftover
    with pytest.raises(RuntimeError):
        write(settings)
    assert len(_collections(settings)) == 4 and open_store(settings).current_name() == first
    monkeypatch.undo()
    assert engine.reload_if_changed() is False and engine.health()["chunks"] == 5
    with open_store(settings).lock():  # the next writer clears it
        pass
    assert _collections(settings) == [first, first + DOCS_SUFFIX]


def test_filter_expressions():
    assert filter_expr() == ""
    assert filter_expr(doc_ids=('a"b', "中文"), year_from=2020, year_to=2024, doc_types=("report",)) == (
        'doc_id in ["a\\"b", "中文"] and year >= 2020 and (year <= 2024 and year > 0) and doc_type in ["report"]'
    )


@pytest.mark.slow
def test_migrate_command_copies_faiss_into_milvus(corpus, tmp_path, lite_uri, capsys):
    faiss_settings = test_settings(index_dir=tmp_path / "faiss")
    build_index([corpus], faiss_settings, embedder=FakeEmbedder())
    milvus_settings = _milvus_settings(tmp_path, lite_uri)
    argv = ["migrate-to-milvus", "--index", str(faiss_settings.index_dir), "--uri", lite_uri]
    assert cli.main([*argv, "--collection", milvus_settings.milvus_collection]) == 0
    assert "copied 2 documents, 5 chunks" in capsys.readouterr().out
    engines = [SearchEngine.open(s, embedder=FakeEmbedder()) for s in (faiss_settings, milvus_settings)]
    assert engines[1].health()["model"] == "fake-hash"
    assert engines[0].documents() == engines[1].documents()
    for mode in ("dense", "lexical", "hybrid"):
        a, b = (ranked(e.search("城镇调查失业率", k=5, mode=mode)) for e in engines)
        assert a == b, mode


def test_migrate_needs_a_uri(capsys, monkeypatch):
    monkeypatch.delenv("POLICY_SEARCH_MILVUS_URI", raising=False)
    assert cli.main(["migrate-to-milvus"]) == 2
    assert "--uri" in capsys.readouterr().err


# ---------------------------------------------------------------- the real model

REAL_DOCS = [
    "2025年中华人民共和国国务院政府工作报告",
    "2024年中华人民共和国国务院政府工作报告",
    "2023年中华人民共和国国务院政府工作报告",
    "2019年中华人民共和国国务院政府工作报告",
    "第二届全国人民代表大会第三次会议关于政府工作报告的决议",
    "第十三届全国人民代表大会第三次会议关于政府工作报告的决议",
]


@pytest.mark.slow
def test_real_model_dense_top10_agrees(tmp_path, lite_uri, real_model_dir):
    """The eval queries' dense top 10 from Milvus (exact FLAT and approximate HNSW) against FAISS, on one index
    embedded once: FAISS is built, then copied into Milvus with migrate_from_faiss."""
    faiss_settings = test_settings(index_dir=tmp_path / "faiss", model=str(real_model_dir))
    paths = [SEEDS_DIR, *(CORPUS_DIR / "gov-work-reports" / f"{name}.txt" for name in REAL_DOCS)]
    report = build_index(paths, faiss_settings)
    assert len(report.added) == 1 + len(REAL_DOCS) and not report.errors
    engine = SearchEngine.open(faiss_settings)
    lines = (PROJECT_ROOT / "data" / "eval" / "policy_queries.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["query"] for line in lines if line.strip()]
    qvecs = engine.embedder.encode_queries(queries)
    versions, seconds = {"faiss": engine.version}, {}
    for kind in ("FLAT", "HNSW"):
        settings = _milvus_settings(tmp_path, lite_uri, model=str(real_model_dir), milvus_index=kind)
        t0 = time.perf_counter()
        migrate_from_faiss(faiss_settings.index_dir, MilvusStore.from_settings(settings))
        seconds[kind] = time.perf_counter() - t0
        versions[kind] = open_store(settings).open_current()
    tops, latency = {}, {}
    for name, version in versions.items():
        t0 = time.perf_counter()
        tops[name] = [version.dense(q, 10)[0].tolist() for q in qvecs]
        latency[name] = (time.perf_counter() - t0) * 1000 / len(queries)
    print(f"\n{len(queries)} queries, {report.chunks} chunks; FAISS build {report.seconds:.1f}s (with embedding)")
    for name in ("FLAT", "HNSW"):
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(tops["faiss"], tops[name])])
        print(
            f"Milvus Lite {name}: copy {seconds[name]:.2f}s, dense {latency[name]:.2f} ms/query "
            f"(FAISS {latency['faiss']:.2f}), top-10 overlap {overlap:.3f}"
        )
        assert overlap >= 0.9, name


# ---------------------------------------------------------------- Milvus incremental writes


@pytest.mark.slow  # Milvus Lite starts a server
def test_milvus_add_and_remove_write_in_the_live_collection(tmp_path, lite_uri, monkeypatch):
    """Incremental writes add a generation to the live collections (no new collections); an open reader keeps
    its snapshot; rows a killed writer inserted before publishing are ignored, then removed by the next writer."""
    settings = _milvus_settings(tmp_path, lite_uri)
    store = open_store(settings)
    first = write(settings)
    old = store.open_current()
    extra = {"notice": ("通知", {"year": 2025, "type": "notice"}, [(["一、要求"], "做好防汛抗旱工作。")])}
    with store.lock():
        second = store.add(make_content(passages=extra), {"model": "fake-hash", "dim": 64})
        third = store.delete(("speech",))
    assert (second, third) == (f"{first}@g1", f"{first}@g2")
    assert _collections(settings) == [first, first + DOCS_SUFFIX]
    assert old.n_chunks == 5 and [c.chunk_id for c in old.chunks_at([0, 4])] == ["speech#0", "report-2024#1"]
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert [d["doc_id"] for d in engine.documents()] == ["report-2024", "notice"] and engine.health()["chunks"] == 3
    assert engine.search("防汛抗旱", k=1, mode="hybrid").results[0].doc_id == "notice"

    def killed(*_a, **_k):
        raise RuntimeError("killed before publishing")

    monkeypatch.setattr(MilvusStore, "_publish", killed)
    with store.lock(), pytest.raises(RuntimeError):
        unpublished = make_content(passages={"x": ("X", {}, [(["一"], "未发布的内容。")])})
        store.add(unpublished, {"model": "fake-hash", "dim": 64})
    monkeypatch.undo()
    assert store.current_name() == third and store.open_current().n_chunks == 3

    def count():
        return store.client.query(first, filter="", output_fields=["count(*)"], consistency_level="Strong")

    assert count()[0]["count(*)"] == 7  # 5 + 1 published + 1 unpublished (hidden)
    with store.lock():  # the next writer removes the unpublished rows
        pass
    assert count()[0]["count(*)"] == 6
    with store.lock():
        store.optimize()  # deleted documents' rows go for good
    assert count()[0]["count(*)"] == 3 and store.open_current().n_chunks == 3


@pytest.mark.slow  # Milvus Lite starts a server
def test_milvus_inserts_chunk_rows_a_page_at_a_time(tmp_path, lite_uri, monkeypatch):
    """A build and an add insert their chunk rows in pages (numbered on across pages, read back in order); an add
    with a chunk over the VARCHAR limit is refused before it inserts anything."""
    import indexer.store.milvus as milvus

    monkeypatch.setattr(milvus, "INSERT_BATCH", 2)
    settings = _milvus_settings(tmp_path, lite_uri)
    store = open_store(settings)
    pages = []
    insert = store.client.insert
    monkeypatch.setattr(store.client, "insert", lambda c, rows: pages.append((c, len(rows))) or insert(c, rows))
    first = write(settings)
    assert [n for name, n in pages if name == first] == [2, 2, 1]
    extra = make_content(passages={"notice": ("通知", {}, [(["一"], "做好防汛抗旱工作。"), (["二"], "加强值守。")])})
    with store.lock():
        store.add(extra, {"model": "fake-hash", "dim": 64})
    back = store.open_current().content()
    assert [c.chunk_id for c in back.chunks] == [c.chunk_id for c in make_content().chunks] + ["notice#0", "notice#1"]
    assert back.tokens[-2:] == extra.tokens
    pages.clear()
    long = "长" * (MAX_VARCHAR // 3 + 1)
    bad = make_content(passages={"big": ("大", {}, [(["一"], "正常。"), (["二"], "也正常。"), (["三"], long)])})
    with store.lock(), pytest.raises(SearchEngineError, match="over Milvus"):
        store.add(bad, {"model": "fake-hash", "dim": 64})
    assert pages == [] and store.open_current().n_chunks == 7


def test_sentence_vectors_on_faiss_refused_on_milvus(settings, corpus):
    from indexer import sentence_vectors

    build_index([corpus], settings, embedder=FakeEmbedder())
    version = open_store(settings).open_current()
    fake = FakeEmbedder()
    engine = SearchEngine.open(settings, embedder=fake)
    fake.calls.clear()
    top = engine.search("ideological security barrier", k=3).results
    assert all(r.best_sentence for r in top)
    if settings.milvus_uri:  # refused: nothing stored, the mark embeds the top passages' sentences at query time
        assert version.manifest["sentence_vectors"] == "off"
        assert sentence_vectors.RowSentences.of(version) is None
        assert any(kind == "passage" for kind, _ in fake.calls)
    else:  # stored with the version: the query is all that is embedded
        assert version.manifest["sentence_vectors"] == "span"
        assert fake.calls == [("query", 1)]
