"""Hard constraints, exact counts, facets, timeline, sort, grouping and similar passages through the real
SearchEngine (fake embedder, hand-made index)."""

from __future__ import annotations

import pytest

from indexer.config import Settings
from indexer.filters import Filters
from indexer.ordering import SearchOptions
from indexer.retrieval import SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import write_test_index

DOCS = {
    "gwr-2016": (
        "2016年政府工作报告",
        {"year": 2016, "type": "report"},
        [
            (["一"], "促进房地产市场平稳健康发展，因城施策化解房地产库存。"),
            (["二"], "加强房地产市场调控，坚持房子是用来住的。"),
        ],
    ),
    "gwr-2024": (
        "2024年政府工作报告",
        {"year": 2024, "type": "report"},
        [
            (["一"], "大力推进现代化产业体系建设，加快发展新质生产力。"),
            (["二"], "优化房地产政策，适应新型城镇化发展趋势。"),
            (["三"], "因地制宜发展新质生产力，推进乡村振兴。"),
        ],
    ),
    "speech-2021": (
        "学习发言",
        {"year": 2021, "type": "speech"},
        [(["一"], "全面推进乡村振兴，巩固拓展脱贫攻坚成果。"), (["二"], "房地产调控不放松。")],
    ),
    "old": ("旧文", {"type": "other"}, [(["一"], "发展生产力是根本任务。")]),
}


@pytest.fixture
def engine(tmp_path):
    write_test_index(tmp_path, passages=DOCS)
    return SearchEngine.open(Settings.from_env(env={}, index_dir=tmp_path), FakeEmbedder())


def texts(resp):
    return [r.text for r in resp.results]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_exclusion_is_hard_in_every_mode(engine, mode):
    resp = engine.search("房地产 -调控", k=10, mode=mode)
    assert resp.results and not any("调控" in t for t in texts(resp))
    assert resp.parsed["excluded"] == ["调控"]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_phrase_is_exact_and_counted_over_the_whole_index(engine, mode):
    resp = engine.search('"新质生产力"', k=1, mode=mode)
    assert all("新质生产力" in t for t in texts(resp))
    assert (resp.total, resp.total_relation, resp.documents_total) == (2, "eq", 1)
    assert resp.facets["year"] == [{"value": 2024, "count": 2}]
    assert resp.timeline["phrase_first_year"] == 2024 and not resp.weak
    assert not any(r.weak for r in resp.results)  # holding the phrase is never a weak match


def test_phrase_limited_to_earlier_years_finds_nothing_but_says_when_it_occurs(engine):
    for q, f in (('"新质生产力" year:..2023', None), ('"新質生產力"', Filters(year_to=2023))):
        resp = engine.search(q, k=10, filters=f)
        assert resp.results == [] and resp.total == 0
        assert (resp.timeline["phrase_first_year"], resp.timeline["phrase_last_year"]) == (2024, 2024)


def test_or_and_inline_type(engine):
    resp = engine.search('"乡村振兴" OR "脱贫攻坚" type:讲话', k=10, mode="lexical")
    assert [r.doc_id for r in resp.results] == ["speech-2021"] and resp.total == 1
    resp = engine.search('"乡村振兴" OR "库存"', k=10, mode="lexical")
    assert resp.total == 3 and {f["value"] for f in resp.facets["type"]} == {"report", "speech"}


def test_facets_and_timeline_count_every_year(engine):
    resp = engine.search('"房地产"', k=2, mode="hybrid")
    assert resp.total == 4 and resp.documents_total == 3 and len(resp.results) == 2
    years = {y["year"]: y["count"] for y in resp.timeline["years"]}
    assert years[2016] == 2 and years[2021] == 1 and years[2024] == 1 and years[2018] == 0
    docs = {d["value"]: d["count"] for d in resp.facets["document"]}
    assert docs == {"gwr-2016": 2, "gwr-2024": 1, "speech-2021": 1}


def test_readable_collections_apply_before_counting(tmp_path):
    docs = {k: (t, {**m, "collections": ["open" if k == "gwr-2024" else "closed"]}, p) for k, (t, m, p) in DOCS.items()}
    write_test_index(tmp_path, passages=docs)
    engine = SearchEngine.open(Settings.from_env(env={}, index_dir=tmp_path), FakeEmbedder())
    resp = engine.search('"房地产"', k=10, filters=Filters(readable=frozenset({"open"})))
    assert resp.total == 1 and [r.doc_id for r in resp.results] == ["gwr-2024"]
    assert [d["value"] for d in resp.facets["document"]] == ["gwr-2024"]


def test_sort_by_date_and_group_by_document(engine):
    newest = engine.search('"房地产"', k=10, options=SearchOptions(sort="newest"))
    assert [r.meta.get("year") for r in newest.results] == [2024, 2021, 2016, 2016]
    oldest = engine.search('"房地产"', k=10, options=SearchOptions(sort="oldest"))
    assert [r.meta.get("year") for r in oldest.results] == [2016, 2016, 2021, 2024]
    grouped = engine.search('"房地产"', k=10, options=SearchOptions(group=True, sort="oldest"))
    pairs = [(r.doc_id, r.more_in_doc) for r in grouped.results]
    assert pairs == [("gwr-2016", 1), ("speech-2021", 0), ("gwr-2024", 0)]
    paged = engine.search('"房地产"', k=2, options=SearchOptions(sort="oldest", offset=2))
    assert [r.rank for r in paged.results] == [3, 4] and paged.results[0].doc_id == "speech-2021"


def test_filter_only_query_lists_the_filtered_passages(engine):
    resp = engine.search("year:2016", k=10)
    assert resp.total == 2 and {r.doc_id for r in resp.results} == {"gwr-2016"} and not resp.weak


def test_plain_question_has_similarity_and_a_weak_flag(engine):
    resp = engine.search("完全无关的外星飞船问题", k=3, mode="dense")
    assert all(r.similarity is not None for r in resp.results)
    assert resp.weak and all(r.weak for r in resp.results)  # the fake embedder never reaches the line
    assert resp.total == 0 and resp.weak_threshold == engine.settings.weak_match_threshold


def test_similar_prefers_other_documents_and_years(engine):
    resp = engine.similar("gwr-2024#0", k=3)
    docs = [r.doc_id for r in resp.results]
    assert "gwr-2024" not in docs and len(set(docs)) == 3
    same = engine.similar("gwr-2024#0", k=3, same_document=True)
    assert {r.doc_id for r in same.results} == {"gwr-2024"} and len(same.results) == 2


def test_bad_sort_or_offset_is_a_query_error():
    from indexer.errors import QueryError

    with pytest.raises(QueryError):
        SearchOptions(sort="random")
    with pytest.raises(QueryError):
        SearchOptions(offset=-1)
