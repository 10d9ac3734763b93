"""Build, add (skip unchanged, replace changed), remove; bad files skipped; failures keep the old index."""

import pytest

from indexer.errors import SearchEngineError
from indexer.pipeline import add_documents, build_index, list_documents, remove_documents
from indexer.retrieval import SearchEngine
from indexer.store import current_version_name
from tests.support.corpus import REPORT, SPEECH
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "speech.txt").write_text(SPEECH, encoding="utf-8")
    (d / "report.txt").write_text(REPORT, encoding="gb18030")
    return d


@pytest.fixture
def settings(tmp_path):
    return test_settings(index_dir=tmp_path / "index")


def test_build_indexes_everything_and_search_finds_points(corpus, settings):
    report = build_index([corpus], settings, embedder=FakeEmbedder())
    assert sorted(report.added) == ["report", "speech"] and not report.errors
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    top = engine.search("意识形态安全屏障", k=3, mode="lexical").results[0]
    assert top.doc_id == "speech"
    assert top.heading_path[-1].startswith("二是进一步筑牢意识形态安全屏障")
    assert {d["doc_id"] for d in list_documents(settings)} == {"report", "speech"}


def test_bad_files_are_reported_and_skipped(corpus, settings):
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
    (corpus / "empty.txt").write_text("", encoding="utf-8")
    report = build_index([corpus], settings, embedder=FakeEmbedder())
    assert sorted(report.added) == ["report", "speech"]
    assert len(report.errors) == 2 and any("binary.txt" in e for e in report.errors)


def test_add_skips_unchanged_replaces_changed_and_adds_new(corpus, settings, tmp_path):
    fake = FakeEmbedder()
    build_index([corpus], settings, embedder=fake)
    (corpus / "report.txt").write_text(REPORT.replace("5.2%", "5.3%"), encoding="utf-8")
    (corpus / "notice.txt").write_text(
        "关于做好防汛工作的通知\n各地要做好防汛抗旱准备，落实防汛责任制，加强值班值守和隐患排查，确保人民群众生命财产安全。",
        encoding="utf-8",
    )
    fake.calls.clear()
    report = add_documents([corpus], settings, embedder=fake)
    assert report.unchanged == ["speech"]
    assert report.replaced == ["report"] and report.added == ["notice"]
    n_new = sum(n for kind, n in fake.calls if kind == "passage")
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    chunks_of_new = len(engine.chunks_of("report")) + len(engine.chunks_of("notice"))
    assert n_new == chunks_of_new  # only the changed and new documents were embedded
    texts = " ".join(c.text for c in engine.chunks_of("report"))
    assert "5.3%" in texts and "5.2%" not in texts
    assert engine.health()["documents"] == 3


def test_add_with_nothing_changed_writes_no_new_version(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    before = current_version_name(settings.index_dir)
    report = add_documents([corpus], settings, embedder=FakeEmbedder())
    assert sorted(report.unchanged) == ["report", "speech"]
    assert current_version_name(settings.index_dir) == before


def test_remove(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    report = remove_documents(["report", "no-such-doc"], settings)
    assert report.removed == ["report"] and "no-such-doc" in report.errors[0]
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert [d["doc_id"] for d in engine.documents()] == ["speech"]
    assert all(r.doc_id == "speech" for r in engine.search("国内生产总值", k=5, mode="dense").results)


def test_build_with_no_readable_document_keeps_the_old_index(corpus, settings, tmp_path):
    build_index([corpus], settings, embedder=FakeEmbedder())
    before = current_version_name(settings.index_dir)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.txt").write_bytes(b"\x00" * 100)
    with pytest.raises(SearchEngineError, match="unchanged"):
        build_index([bad], settings, embedder=FakeEmbedder())
    assert current_version_name(settings.index_dir) == before


def test_embedding_failure_mid_build_keeps_the_old_index(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    before = current_version_name(settings.index_dir)

    class Crashing(FakeEmbedder):
        def encode_passages(self, texts, show_progress=False):
            raise RuntimeError("out of memory")

    (corpus / "notice.txt").write_text(
        "关于防汛的通知\n各地要做好防汛准备，落实责任，加强值班值守和隐患排查，确保安全度汛。", encoding="utf-8"
    )
    with pytest.raises(RuntimeError):
        add_documents([corpus], settings, embedder=Crashing())
    assert current_version_name(settings.index_dir) == before
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.health()["documents"] == 2


def test_an_index_from_an_older_tokenizer_is_retokenised_on_add(corpus, settings, monkeypatch):
    """Numbers folded since: re-adding the same documents re-tokenises them without re-embedding."""
    from indexer import textnorm

    monkeypatch.setattr(textnorm, "TOKENIZER_VERSION", "1")
    monkeypatch.setattr(textnorm, "fold_numbers", lambda text: text)  # the old tokenizer
    (corpus / "figures.txt").write_text("全年粮食产量比一九九一年增长百分之十七点九。\n", encoding="utf-8")
    first = build_index([corpus], settings, embedder=FakeEmbedder()).version
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.version.manifest["tokenizer"] == "1"
    monkeypatch.undo()
    old = engine.search("1991 17.9%", k=3, mode="lexical").results
    assert "figures" not in [r.doc_id for r in old]  # old tokens: the figures do not meet

    embedder = FakeEmbedder()
    report = add_documents([corpus], settings, embedder=embedder)
    assert report.version != first and sorted(report.unchanged) == ["figures", "report", "speech"]
    assert not [n for kind, n in embedder.calls if kind == "passage" and n]  # nothing re-embedded
    engine.reload()
    assert engine.version.manifest["tokenizer"] == textnorm.TOKENIZER_VERSION
    assert engine.search("1991 17.9%", k=3, mode="lexical").results[0].doc_id == "figures"
