"""The one retrieval function: validation, fusion, best sentence, modes, filters, hot reload."""

import numpy as np
import pytest

from indexer.config import Settings
from indexer.errors import ModelMismatchError, QueryError
from indexer.filters import Filters
from indexer.fusion import rrf_fuse, score_fuse
from indexer.marking import best_sentence
from indexer.retrieval import SearchEngine, validate_request
from indexer.sentences import split_sentences
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import PASSAGES, write_test_index
from tests.support.settings import test_settings


@pytest.fixture
def engine(tmp_path):
    write_test_index(tmp_path)
    return SearchEngine.open(test_settings(index_dir=tmp_path), embedder=FakeEmbedder())


@pytest.mark.parametrize(
    ("query", "k", "mode", "reason"),
    [
        ("", 10, "hybrid", "empty"),
        ("   ", 10, "hybrid", "empty"),
        ("经济" * 300, 10, "hybrid", "limit"),
        ("经济", 0, "hybrid", "between 1 and"),
        ("经济", 101, "hybrid", "between 1 and"),
        ("经济", "10", "hybrid", "integer"),
        ("经济", True, "hybrid", "integer"),
        ("经济", 10, "semantic", "mode must be"),
        (None, 10, "hybrid", "string"),
    ],
)
def test_validate_request_rejects_with_reason(query, k, mode, reason):
    with pytest.raises(QueryError, match=reason):
        validate_request(query, k, mode, Settings())


def test_validate_request_strips():
    assert validate_request("  经济 ", 5, "dense", Settings()) == ("经济", 5, "dense")


def test_rrf_hand_computed():
    fused = rrf_fuse([np.array([7, 3, 5]), np.array([3, 9])], rrf_k=60)
    # 3: 1/62 + 1/61, 7: 1/61, 9: 1/62, 5: 1/63
    assert [row for row, _ in fused] == [3, 7, 9, 5]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[3][1] == pytest.approx(1 / 63)


def test_rrf_prefers_agreement_over_one_top_rank():
    fused = rrf_fuse([np.array([1, 2]), np.array([3, 2])])
    assert fused[0][0] == 2


def test_split_sentences_keeps_closing_quotes():
    text = "他说：“要学习。”然后走了！最后；"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["他说：“要学习。”", "然后走了！", "最后；"]


def test_best_sentence_picks_the_informative_one():
    text = "今年工作任务繁重。国内生产总值增长5%左右。要坚持稳中求进。"
    idf = {"国内生产总值": 3.0, "增长": 1.0, "工作": 0.5}.get
    s, e = best_sentence(text, ["国内生产总值", "增长"], lambda t: idf(t) or 0.0)
    assert text[s:e] == "国内生产总值增长5%左右。"


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_mode_finds_the_passage(engine, mode):
    resp = engine.search("意识形态安全屏障", k=3, mode=mode)
    top = resp.results[0]
    assert top.chunk_id == "speech#2" and top.rank == 1
    assert top.heading_path[-1] == "一是进一步筑牢意识形态安全屏障"
    assert top.text[top.best_sentence_start : top.best_sentence_end] == top.best_sentence
    assert resp.mode == mode and resp.took_ms >= 0


def test_result_fields_match_the_contract(engine):
    r = engine.search("国内生产总值增长目标", k=2, mode="hybrid").results[0]
    d = r.to_dict()
    for key in ("rank", "score", "doc_id", "title", "heading_path", "text", "chunk_id", "start", "end"):
        assert key in d
    doc = engine.document(r.doc_id)
    assert doc.text[r.start : r.end] == r.text


def test_search_many_embeds_once(engine):
    fake = engine.embedder
    fake.calls.clear()
    responses = engine.search_many(["两个确立", "失业率", "理论学习"], k=2, mode="hybrid")
    assert [r.query for r in responses] == ["两个确立", "失业率", "理论学习"]
    assert [c for c in fake.calls if c[0] == "query"] == [("query", 3)]


def test_lexical_mode_needs_no_embedder(tmp_path):
    write_test_index(tmp_path)
    engine = SearchEngine.open(test_settings(index_dir=tmp_path, model="/no/such/model"))
    assert engine.search("失业率", k=1, mode="lexical").results[0].doc_id == "report-2024"


def test_filters(engine):
    got = engine.search("学习", k=10, mode="hybrid", filters=Filters(doc_types=("report",)))
    assert got.results and {r.doc_id for r in got.results} == {"report-2024"}
    got = engine.search("学习", k=10, mode="dense", filters=Filters(year_to=2022))
    assert {r.doc_id for r in got.results} == {"speech"}


def test_engine_picks_up_a_new_version(engine, tmp_path):
    assert engine.health()["chunks"] == 5
    extra = dict(PASSAGES)
    extra["notice"] = ("通知", {"year": 2025, "type": "notice"}, [(["一、要求"], "做好防汛抗旱工作。")])
    write_test_index(tmp_path, passages=extra)
    assert engine.reload_if_changed() is True
    assert engine.health()["chunks"] == 6
    assert engine.search("防汛抗旱", k=1, mode="lexical").results[0].doc_id == "notice"
    assert engine.reload_if_changed() is False


def test_model_mismatch_is_a_clear_error(tmp_path):
    write_test_index(tmp_path)

    class Other(FakeEmbedder):
        name = "another-model"

    with pytest.raises(ModelMismatchError, match="fake-hash"):
        SearchEngine.open(test_settings(index_dir=tmp_path), embedder=Other())


def test_similar_passages_exclude_the_source(engine):
    resp = engine.similar("report-2024#1", k=3)
    assert resp.mode == "similar"
    assert "report-2024#1" not in [r.chunk_id for r in resp.results]
    assert resp.results[0].doc_id != "report-2024"  # other documents first, by default
    same = engine.similar("report-2024#1", k=3, same_document=True)
    assert [r.chunk_id for r in same.results] == ["report-2024#0"]  # the other passage on GDP growth
    assert engine.similar("no-such#9") is None


def test_rrf_weights_scale_and_zero_drops_a_ranking():
    fused = rrf_fuse([np.array([1, 2]), np.array([3])], rrf_k=60, weights=[1.0, 0.0])
    assert [row for row, _ in fused] == [1, 2]
    fused = rrf_fuse([np.array([1]), np.array([3])], rrf_k=60, weights=[1.0, 2.0])
    assert fused[0] == (3, pytest.approx(2 / 61))


def test_english_query_uses_dense_ranking_only(engine):
    hybrid = engine.search("GDP growth target 5%", k=5, mode="hybrid").results
    dense = engine.search("GDP growth target 5%", k=5, mode="dense").results
    assert [r.chunk_id for r in hybrid] == [r.chunk_id for r in dense]


def test_score_fuse_hand_computed():
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.8, 0.5]))
    lexical = (np.array([3, 4]), np.array([10.0, 2.0]))
    fused = score_fuse([dense, lexical], [1.0, 1.0])
    # normalised: dense 1->1, 2->0.75, 3->0 ; lexical 3->1, 4->0
    assert fused == [(1, pytest.approx(1.0)), (3, pytest.approx(1.0)), (2, pytest.approx(0.75)), (4, 0.0)]
    fused = score_fuse([dense, lexical], [1.0, 0.5])
    assert [row for row, _ in fused][:2] == [1, 2]


def test_score_fuse_single_result_ranking_counts_fully():
    fused = score_fuse([(np.array([5]), np.array([0.3])), (np.array([]), np.array([]))], [1.0, 1.0])
    assert fused == [(5, 1.0)]


def test_traditional_query_finds_simplified_passage_and_the_reverse(tmp_path):
    passages = dict(PASSAGES)
    passages["report-1954"] = (
        "1954年政府工作報告",
        {"year": 1954, "type": "report"},
        [(["一、國家過渡時期"], "我們必須有計劃地發展國民經濟，逐步實現國家的社會主義工業化。")],
    )
    write_test_index(tmp_path, passages=passages)
    engine = SearchEngine.open(test_settings(index_dir=tmp_path), embedder=FakeEmbedder())
    top = engine.search("築牢意識形態安全屏障", k=1, mode="lexical").results[0]
    assert top.chunk_id == "speech#2"
    top = engine.search("社会主义工业化", k=1, mode="lexical").results[0]
    assert top.doc_id == "report-1954"
    assert "社會主義工業化" in top.text  # shown as written
    assert "工業化" in top.best_sentence


def test_best_sentence_by_meaning_when_no_query_word_occurs(engine):
    fake = engine.embedder
    fake.calls.clear()
    query = "How fast should the economy grow in the coming year?"  # no word of it occurs in the passages
    results = engine.search(query, k=3, mode="dense").results
    sentences = [[r.text[a:b] for a, b in split_sentences(r.text)] for r in results]
    assert fake.calls[-1] == ("passage", sum(map(len, sentences)))  # one batch for the top 3
    qvec = FakeEmbedder().encode_queries([query])[0]
    for r, ss in zip(results, sentences):
        best = ss[int(np.argmax(FakeEmbedder().encode_passages(ss) @ qvec))]
        assert r.best_sentence == best == r.text[r.best_sentence_start : r.best_sentence_end]


def test_best_sentence_by_words_needs_no_extra_embedding(engine):
    fake = engine.embedder
    fake.calls.clear()
    engine.search("意识形态安全屏障", k=1, mode="dense")
    assert fake.calls == [("query", 1)]


def test_chinese_query_never_pays_for_sentence_embedding(engine):
    fake = engine.embedder
    fake.calls.clear()
    engine.search("防汛抗旱救灾", k=3, mode="dense")  # no word of it occurs in any passage
    assert fake.calls == [("query", 1)]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_one_dense_search_serves_the_ranking_and_the_count(engine, mode, monkeypatch):
    """The candidates and the match count are prefixes of one search facet_depth deep (at 1M chunks a second
    graph walk would cost as much as the first)."""
    version = engine.version
    asked = []
    original = type(version).dense

    def spy(self, q, n, allowed=None):
        asked.append(n)
        return original(self, q, n, allowed)

    monkeypatch.setattr(type(version), "dense", spy)
    assert engine.search("经济发展", k=5, mode=mode).results
    assert asked == [engine.settings.facet_depth]
    asked.clear()
    engine.search('"意识形态" 安全屏障', k=5, mode=mode)  # a phrase is counted by the phrase: no deep dense search
    assert asked == [engine.settings.candidate_pool]
