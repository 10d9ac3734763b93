"""The query hot path does each piece of per-passage work once (latency, issue 10)."""

from collections import Counter

from indexer import textnorm
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.sentence_vectors import RowSentences
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings


def test_each_result_passage_is_folded_once(corpus, tmp_path, monkeypatch):
    settings = test_settings(None, index_dir=tmp_path / "index")
    build_index([corpus], settings, embedder=FakeEmbedder())
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert RowSentences.of(engine.version) is not None  # the stored-sentence mark runs as well as the word mark
    folded: Counter[str] = Counter()
    real = textnorm.fold

    def counting(text: str) -> str:
        folded[text] += 1
        return real(text)

    monkeypatch.setattr(textnorm, "fold", counting)
    results = engine.search("意识形态 工作责任制 国内生产总值 宣传", k=5).results
    assert len(results) >= 2
    assert {r.chunk_id: folded[r.text] for r in results} == {r.chunk_id: 1 for r in results}
