"""Sentence vectors: computed at index time, kept row-aligned through add/remove, used for the mark and fusion."""

import numpy as np
import pytest

from indexer import sentence_vectors
from indexer.errors import ModelMismatchError
from indexer.pipeline import add_documents, build_index, remove_documents
from indexer.retrieval import SearchEngine
from indexer.sentences import split_sentences
from indexer.store import open_current
from tests.support.corpus import REPORT
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings


@pytest.fixture
def settings(tmp_path):
    return test_settings(None, index_dir=tmp_path / "index")


def _check_aligned(index_dir) -> int:
    """Every stored sentence span is a sentence of its own row's text, with that sentence's vector."""
    version = open_current(index_dir)
    fake = FakeEmbedder()
    rows = list(range(version.n_chunks))
    chunks = version.chunks_at(rows)
    assert version.has_extra(sentence_vectors.VECTORS)
    spans = version.extra_rows(sentence_vectors.SPANS, rows)
    vecs = np.asarray(version.extra_rows(sentence_vectors.VECTORS, rows), np.float32)
    total = 0
    for row, chunk in enumerate(chunks):
        got = [(int(a), int(b)) for a, b in spans[row] if a >= 0]
        assert got == split_sentences(chunk.text)  # short passages: no grouping
        want = fake.encode_passages([chunk.text[a:b] for a, b in got])
        np.testing.assert_allclose(vecs[row, : len(got)], want, atol=2e-3)
        total += len(got)
    version.close()
    return total


def test_build_add_remove_keep_sentences_aligned_with_rows(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    first = _check_aligned(settings.index_dir)
    assert first > 0
    (corpus / "report.txt").write_text(REPORT.replace("5.2%", "5.3%"), encoding="utf-8")
    (corpus / "notice.txt").write_text("关于防汛的通知\n各地要做好防汛准备。落实防汛责任制！", encoding="utf-8")
    add_documents([corpus], settings, embedder=FakeEmbedder())
    assert _check_aligned(settings.index_dir) > first
    remove_documents(["speech"], settings)
    assert 0 < _check_aligned(settings.index_dir) < first


def test_off_writes_no_sentence_arrays_and_search_still_works(corpus, tmp_path):
    settings = test_settings(None, index_dir=tmp_path / "off", sentence_vectors="off")
    build_index([corpus], settings, embedder=FakeEmbedder())
    version = open_current(settings.index_dir)
    assert not version.has_extra(sentence_vectors.VECTORS) and version.manifest["sentence_vectors"] == "off"
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.search("意识形态安全屏障", k=2).results


def test_adding_keeps_the_index_kind_of_rows(corpus, tmp_path):
    settings = test_settings(None, index_dir=tmp_path / "idx", sentence_vectors="off")
    build_index([corpus], settings, embedder=FakeEmbedder())
    (corpus / "notice.txt").write_text("关于防汛的通知\n各地要做好防汛准备。落实防汛责任制！", encoding="utf-8")
    add_documents([corpus], test_settings(None, index_dir=tmp_path / "idx"), embedder=FakeEmbedder())
    version = open_current(settings.index_dir)  # still none: an index's rows are all of one kind
    assert version.manifest["sentence_vectors"] == "off" and not version.has_extra(sentence_vectors.VECTORS)


def test_english_query_marks_best_sentence_without_embedding_sentences(corpus, settings):
    build_index([corpus], settings, embedder=FakeEmbedder())
    fake = FakeEmbedder()
    engine = SearchEngine.open(settings, embedder=fake)
    fake.calls.clear()
    results = engine.search("ideological security barrier", k=5).results
    assert fake.calls == [("query", 1)]  # the query only: sentence vectors come from the index
    for r in results:
        assert r.best_sentence == r.text[r.best_sentence_start : r.best_sentence_end]
        assert (r.best_sentence_start, r.best_sentence_end) in split_sentences(r.text)


def test_sentence_weight_adds_the_best_sentence_signal(corpus, tmp_path):
    settings = test_settings(None, index_dir=tmp_path / "idx")
    build_index([corpus], settings, embedder=FakeEmbedder())
    query = "落实意识形态工作责任制"
    plain = SearchEngine.open(settings, embedder=FakeEmbedder()).search(query, k=5).results
    weighted = SearchEngine.open(
        test_settings(None, index_dir=tmp_path / "idx", sentence_weight=1.0), embedder=FakeEmbedder()
    ).search(query, k=5).results
    assert weighted[0].chunk_id == plain[0].chunk_id  # the exact sentence's passage stays first
    assert weighted[0].score > plain[0].score  # ... now with the sentence signal added


def test_pack_groups_long_passages_and_best_picks_the_span():
    spans = [(i * 3, i * 3 + 2) for i in range(30)]
    vecs = np.eye(32, dtype=np.float32)[:30]
    packed = sentence_vectors.pack([(spans, vecs), ([], np.zeros((0, 32), np.float32))], 32)
    got = packed[sentence_vectors.SPANS]
    assert got.shape == (2, sentence_vectors.MAX_SENTENCES, 2) and (got[1] == -1).all()
    assert got[0, 0, 0] == 0 and got[0, -1, 1] == 89  # 30 sentences in 12 runs of neighbours, all covered
    view = sentence_vectors.RowSentences(lambda key, rows: packed[key][rows])
    q = np.zeros(32, np.float32)
    q[29] = 1.0
    scores, best = view.best([0, 1], q)
    assert best[0] == tuple(got[0, -1]) and best[1] is None and scores[1] == 0.0 and scores[0] > 0.5


def test_adapter_mismatch_is_a_clear_error(corpus, settings):
    class Adapted(FakeEmbedder):
        adapter = {"name": "corpus", "sha256": "ab" * 32}

    build_index([corpus], settings, embedder=Adapted())
    assert open_current(settings.index_dir).manifest["adapter"]["sha256"] == "ab" * 32
    with pytest.raises(ModelMismatchError, match="adapter 'corpus'"):
        SearchEngine.open(settings, embedder=FakeEmbedder())  # the base model, no adapter
    with pytest.raises(ModelMismatchError, match="no adapter"):
        add_documents([corpus], settings, embedder=FakeEmbedder())

    class Renamed(FakeEmbedder):  # the same weights in a folder of another name: the vectors fit
        adapter = {"name": "copy-of-corpus", "sha256": "ab" * 32}

    assert SearchEngine.open(settings, embedder=Renamed()).search("两个确立", k=1, mode="hybrid").results

    class Other(FakeEmbedder):
        adapter = {"name": "corpus", "sha256": "cd" * 32}

    with pytest.raises(ModelMismatchError, match="sha256 cdcd"):
        SearchEngine.open(settings, embedder=Other())
    SearchEngine.open(settings, embedder=Adapted())  # the same model + adapter opens
