"""Collections inside the engine: stored with a document, enforced by every backend before ranking.

Runs on FAISS + SQLite and on Milvus Lite. A reader's scope must limit dense search, BM25, hybrid,
similar passages, the document listing, the document view, passages and counts; a document outside
the scope answers exactly like one that does not exist.
"""

from __future__ import annotations

import itertools
import json
import os

import numpy as np
import pytest

from indexer import cli
from indexer.access import collections_of, narrow
from indexer.backend import open_store
from indexer.documents import load_document, load_jsonl
from indexer.filters import Filters
from indexer.metadata import DEFAULT_COLLECTION, clean_fields
from indexer.pipeline import add_documents
from indexer.retrieval import MODES, SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import make_content
from tests.support.settings import test_settings

_names = itertools.count()

# Three documents sharing words, so every query could find every one of them unless the scope stops it.
PASSAGES = {
    "pub": (
        "公开的发展报告",
        {"year": 2024, "type": "report"},
        [(["一、总体"], "推动高质量发展，稳定就业，防范风险。")],
    ),
    "office": (
        "办公室内部发展通知",
        {"year": 2024, "type": "notice", "collections": ["办公室"]},
        [(["一、要求"], "推动高质量发展，内部通知稳定就业。"), (["二、安排"], "防范风险，内部安排。")],
    ),
    "both": (
        "宣传部与办公室联合发展意见",
        {"year": 2023, "type": "other", "collections": ["办公室", "宣传部"]},
        [(["一、意见"], "推动高质量发展，联合宣传防范风险。")],
    ),
}


@pytest.fixture(scope="module")
def lite_uri(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "collections.db")


@pytest.fixture(params=["faiss", pytest.param("milvus", marks=pytest.mark.slow)])  # Milvus Lite starts a server: slow
def engine(request, tmp_path, lite_uri) -> SearchEngine:
    if request.param == "faiss":
        settings = test_settings(index_dir=tmp_path / "index")
    else:
        name = f"c{os.getpid()}_{next(_names)}"
        settings = test_settings(index_dir=tmp_path / "index", milvus_uri=lite_uri, milvus_collection=name)
    embedder = FakeEmbedder()
    store = open_store(settings)
    with store.lock():
        store.write(make_content(embedder, PASSAGES), {"model": embedder.name, "dim": embedder.dim})
    return SearchEngine.open(settings, embedder)


def _docs(response) -> set[str]:
    return {r.doc_id for r in response.results}


@pytest.mark.parametrize("mode", MODES)
def test_search_never_returns_a_document_outside_the_scope(engine, mode):
    everything = engine.search("推动高质量发展 防范风险", k=10, mode=mode)
    assert _docs(everything) == {"pub", "office", "both"}
    public = Filters(readable=frozenset({DEFAULT_COLLECTION}))
    assert _docs(engine.search("推动高质量发展 防范风险", k=10, mode=mode, filters=public)) == {"pub"}
    propaganda = Filters(readable=frozenset({DEFAULT_COLLECTION, "宣传部"}))
    assert _docs(engine.search("内部通知 推动高质量发展", k=10, mode=mode, filters=propaganda)) == {"pub", "both"}
    nothing = Filters(readable=frozenset())
    assert engine.search("推动高质量发展", k=10, mode=mode, filters=nothing).results == []


def test_k_results_are_filled_from_the_scope_not_cut_after_ranking(engine):
    """The filter acts before ranking: k=1 still finds the public passage even though others rank higher."""
    public = Filters(readable=frozenset({DEFAULT_COLLECTION}))
    for mode in MODES:
        hits = engine.search("内部通知 内部安排", k=1, mode=mode, filters=public).results
        assert [h.doc_id for h in hits] in (["pub"], []), mode
    assert [h.doc_id for h in engine.search("推动高质量发展", k=1, mode="dense", filters=public).results] == ["pub"]


def test_chosen_collections_narrow_but_never_widen(engine):
    office_reader = frozenset({DEFAULT_COLLECTION, "办公室"})
    chosen = Filters(collections=("办公室",), readable=office_reader)
    assert _docs(engine.search("推动高质量发展", k=10, filters=chosen)) == {"office", "both"}
    widen = Filters(collections=("宣传部",), readable=frozenset({DEFAULT_COLLECTION}))
    assert engine.search("推动高质量发展", k=10, filters=widen).results == []
    assert narrow(None, ["a"]) == {"a"} and narrow(frozenset({"a"}), []) == {"a"}


def test_listing_document_view_passages_and_counts_follow_the_scope(engine):
    pub = frozenset({DEFAULT_COLLECTION})
    assert [d["doc_id"] for d in engine.documents(pub)] == ["pub"]
    assert {d["doc_id"] for d in engine.documents()} == {"pub", "office", "both"}
    assert engine.document("office", pub) is None and engine.document("missing", pub) is None
    assert engine.document("office", frozenset({"办公室"})).title == "办公室内部发展通知"
    assert engine.chunks_of("office", pub) == [] == engine.chunks_of("missing", pub)
    assert len(engine.chunks_of("office", frozenset({"办公室"}))) == 2
    health = engine.health(pub)
    assert (health["documents"], health["chunks"]) == (1, 1)
    assert (engine.health()["documents"], engine.health()["chunks"]) == (3, 4)
    assert engine.collections(pub) == [DEFAULT_COLLECTION]
    assert engine.collections() == sorted([DEFAULT_COLLECTION, "办公室", "宣传部"])


def test_similar_passages_hide_forbidden_sources_and_results(engine):
    pub, office = frozenset({DEFAULT_COLLECTION}), frozenset({"办公室"})
    assert engine.similar("office#0", k=5, filters=Filters(readable=pub)) is None
    assert engine.similar("missing#0", k=5, filters=Filters(readable=pub)) is None
    seen = engine.similar("office#0", k=5, filters=Filters(readable=office))
    assert {r.doc_id for r in seen.results} <= {"office", "both"} and seen.results
    from_public = engine.similar("pub#0", k=5, filters=Filters(readable=pub))
    assert from_public.results == []  # nothing else is public


def test_store_masks_rows_by_collection(engine):
    version = engine.version
    assert version.allowed_rows() is None and version.allowed_rows(collections=None) is None
    mask = version.allowed_rows(collections=frozenset({"宣传部"}))
    rows = np.flatnonzero(mask).tolist()
    assert [c.doc_id for c in version.chunks_at(rows)] == ["both"]
    everything = frozenset({DEFAULT_COLLECTION, "办公室", "宣传部"})
    assert version.allowed_rows(collections=everything) is None  # nothing hidden: no filter at all
    combined = version.allowed_rows(year_to=2023, collections=frozenset({"办公室"}))
    assert [c.doc_id for c in version.chunks_at(np.flatnonzero(combined).tolist())] == ["both"]


# ---------------------------------------------------------------- how documents get their collections


def test_collections_from_flags_sidecar_and_jsonl(tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("关于做好防汛工作的通知\n各单位要做好防汛工作。", encoding="utf-8")
    assert "collections" not in load_document(doc).meta  # none given: the default collection
    assert collections_of(load_document(doc).meta) == [DEFAULT_COLLECTION]
    (tmp_path / "a.txt.meta.json").write_text(json.dumps({"collections": ["宣传部"]}), encoding="utf-8")
    assert load_document(doc).meta["collections"] == ["宣传部"]
    flags = load_document(doc, {"collections": ["办公室", "宣传部", "办公室"]})
    assert flags.meta["collections"] == ["办公室", "宣传部"]
    lines = tmp_path / "b.jsonl"
    lines.write_text(
        json.dumps({"title": "甲", "text": "第一篇正文内容。", "collections": "办公室"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"title": "乙", "text": "第二篇正文内容。"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    docs, errors = load_jsonl(lines)
    assert not errors and [collections_of(d.meta) for d in docs] == [["办公室"], [DEFAULT_COLLECTION]]


@pytest.mark.parametrize("bad", [" ", "a,", "x/y", "*", "a" * 41, ["ok", 3], [""], ["a,b"], 7])
def test_bad_collection_names_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError, match="collection"):
        clean_fields({"collections": bad})


def test_indexer_add_collection_flag_is_repeatable(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("indexer.pipeline._embedder", lambda settings, embedder: FakeEmbedder())
    doc = tmp_path / "note.txt"
    doc.write_text("关于加强值班工作的通知\n请各部门加强值班。", encoding="utf-8")
    index = tmp_path / "index"
    argv = ["add", str(doc), "--index", str(index), "--collection", "办公室", "--collection", "宣传部", "--quiet"]
    assert cli.main(argv) == 0
    settings = test_settings(index_dir=index)
    engine = SearchEngine.open(settings, FakeEmbedder())
    assert [collections_of(d["meta"]) for d in engine.documents()] == [["办公室", "宣传部"]]
    capsys.readouterr()
    assert cli.main(["list", "--index", str(index)]) == 0
    assert "办公室,宣传部" in capsys.readouterr().out
    bad = ["add", str(doc), "--index", str(index), "--collection", "a/b", "--quiet"]
    cli.main(bad)
    assert "bad collection name 'a/b'" in capsys.readouterr().err  # reported, the file skipped
    assert clean_fields({"collections": "办公室, 宣传部"})["collections"] == ["办公室", "宣传部"]
    report = add_documents([doc], settings, embedder=FakeEmbedder(), overrides={"collections": ["办公室"]})
    assert report.replaced == ["note"]  # moving a document to another collection re-indexes it


class _Recorder:
    """The open version, noting every method the engine calls on it (the store work a request causes)."""

    def __init__(self, inner):
        self._inner, self.calls = inner, []

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls.append(name)
            return attr(*args, **kwargs)

        return call


def test_forbidden_and_missing_ids_take_the_same_path_through_the_store(engine):
    """Same answer and the same store work (so no timing tells them apart): no lookup for either."""
    pub = frozenset({DEFAULT_COLLECTION})
    recorder = _Recorder(engine.version)
    engine._version = recorder
    for forbidden, missing in (("office", "nodocx"), ("both", "nada")):
        for ask in (
            lambda d: engine.document(d, pub),
            lambda d: engine.chunks_of(d, pub),
            lambda d: engine.similar(f"{d}#0", k=3, filters=Filters(readable=pub)),
        ):
            recorder.calls.clear()
            a = ask(forbidden)
            path_a = list(recorder.calls)
            recorder.calls.clear()
            b = ask(missing)
            assert a == b and a in (None, []) and path_a == recorder.calls == []
