"""Official wording for colloquial words: the mined dictionary (indexer.tools.colloquial) and its use on the
lexical side of a Chinese question (indexer.expansion.ColloquialTerms)."""

import dataclasses
from pathlib import Path

import numpy as np

from indexer import textnorm
from indexer.expansion import ColloquialTerms, YearTargets, preferred_years
from indexer.retrieval import SearchEngine
from indexer.tools.colloquial import MineOptions, mine, write_dictionary
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import write_test_index
from tests.support.settings import test_settings

PASSAGES = {
    "report-2019": (
        "2019年政府工作报告",
        {"year": 2019, "type": "report"},
        [
            (["一、降低企业负担"], "一般工商业平均电价再降低10%。"),
            (["二、社会保障"], "城乡居民基础养老金最低标准提高。"),
            (["三、就业"], "稳定和扩大就业，做好高校毕业生工作。"),
        ],
    ),
}


def test_expand_adds_official_terms_at_the_lower_weight() -> None:
    terms = ColloquialTerms({"电费": ["电价", "收费"]})
    assert terms.expand(["电费", "便宜"], 0.6) == {"电费": 1.0, "便宜": 1.0, "电价": 0.6, "收费": 0.6}
    assert terms.expand(["电价", "电费"], 0.6)["电价"] == 1.0  # a word the question uses itself keeps weight 1
    assert terms.expand(["电费"], 0.0) == {"电费": 1.0}  # lever off


def test_colloquial_question_gets_the_official_term_on_the_lexical_side(tmp_path: Path) -> None:
    write_test_index(tmp_path / "index", passages=PASSAGES)
    (tmp_path / "colloquial.tsv").write_text("# test\n电费\t电价:0.050\n", encoding="utf-8")
    settings = test_settings(
        index_dir=tmp_path / "index", colloquial_file=tmp_path / "colloquial.tsv", colloquial_weight=0.0
    )
    question = "工厂的电费能便宜吗"
    off = SearchEngine.open(settings, embedder=FakeEmbedder())
    on = SearchEngine.open(dataclasses.replace(settings, colloquial_weight=0.6), embedder=FakeEmbedder())
    assert off.search(question, k=3, mode="lexical").results == []  # the documents never say 电费
    dense = on.version.dense(on.embedder.encode_queries([question])[0], 3, None)
    tokens = textnorm.tokenize(question)
    (rows, _), weight = on.hybrid.lexical_side(on.version, on.hybrid.read(on.version, question, tokens), dense, 3, None)
    assert weight == 1.0 and rows.size == 1
    assert "电价" in on.version.chunks_at([int(rows[0])])[0].text
    (rows, _), _ = off.hybrid.lexical_side(off.version, off.hybrid.read(off.version, question, tokens), dense, 3, None)
    assert rows.size == 0
    assert "电价" in on.search(question, k=1, mode="hybrid").results[0].text


def test_added_lists_each_colloquial_words_new_terms() -> None:
    terms = ColloquialTerms({"电费": ["电价", "收费"], "便宜": ["低廉"]})
    assert terms.added(["电费", "收费", "电费", "贵"]) == {"电费": ["电价"]}  # 收费 is the question's own word
    assert terms.added(["贵"]) == {}


def test_preferred_years_are_the_ones_the_year_bonus_lifts() -> None:
    both, congress = YearTargets(same=(2021,), next=(2021,)), YearTargets(same=(2007,))
    assert preferred_years(both, 0.8, 0.8) == [2021, 2022]  # a year's results are in the next report
    assert preferred_years(congress, 0.8, 0.8) == [2007]  # a congress: its own year's documents only
    assert preferred_years(both, 0.0, 0.8) == [2021] and preferred_years(both, 0.0, 0.0) == []


def _expanding_app(tmp_path: Path):
    from search_app import create_app

    write_test_index(tmp_path / "index", passages=PASSAGES)
    (tmp_path / "colloquial.tsv").write_text("# test\n电费\t电价:0.050\n", encoding="utf-8")
    (tmp_path / "en_zh.tsv").write_text("# test\nelectricity price\t电价\n", encoding="utf-8")
    settings = test_settings(
        tmp_path, index_dir=tmp_path / "index", colloquial_file=tmp_path / "colloquial.tsv",
        lexicon_file=tmp_path / "en_zh.tsv", colloquial_weight=0.6,
    )  # fmt: skip
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    return engine, create_app(settings, engine=engine).test_client()


def test_the_reader_is_shown_what_else_was_looked_for(tmp_path: Path) -> None:
    engine, client = _expanding_app(tmp_path)
    question = "2019年工厂的电费能便宜吗"
    expanded = engine.search(question, k=3, mode="hybrid").expanded
    assert expanded == {
        "official_terms": [{"word": "电费", "terms": ["电价"]}], "chinese_terms": [], "preferred_years": [2019, 2020],
    }  # fmt: skip
    assert engine.search(question, k=3, mode="lexical").expanded["official_terms"] == []  # keyword mode is literal
    english = engine.search("Did the electricity price fall?", k=3, mode="hybrid").expanded
    assert english["chinese_terms"] == ["电价"] and english["official_terms"] == []

    body = client.get("/api/search", query_string={"q": question}).get_json()
    assert body["expanded"]["official_terms"] == [{"word": "电费", "terms": ["电价"]}]
    html = client.get("/", query_string={"q": question}).get_data(as_text=True)
    assert "也按公文用语检索：" in html and "q=%E7%94%B5%E4%BB%B7" in html  # a link that searches 电价 alone
    assert "<mark>电价</mark>" in html  # the added term is marked in the passage that holds it
    assert "优先这些年份的文件：2019、2020" in html


def test_questions_with_numbers_lean_more_on_bm25(tmp_path: Path) -> None:
    write_test_index(tmp_path / "index", passages=PASSAGES)
    engine = SearchEngine.open(test_settings(index_dir=tmp_path / "index", lexical_weight=0.8), embedder=FakeEmbedder())
    factor = engine.settings.lexical_digits_factor
    assert factor > 1.0
    assert engine.hybrid.lexical_weight("电价降了多少") == 0.8
    weight = engine.hybrid.lexical_weight
    assert weight("二〇一九年电价降了多少") == weight("2019年电价") == 0.8 * factor
    assert engine.hybrid.lexical_weight("electricity prices in 2019") == engine.settings.lexical_weight_no_cjk


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "a.txt").write_text("城乡居民基础养老金提高。\n\n做好就业工作。\n\n", encoding="utf-8")
    (folder / "b.txt").write_text("养老金按时足额发放。\n\n就业工作稳中有进。\n", encoding="utf-8")
    return folder


def test_builder_is_deterministic_and_maps_rare_words_to_corpus_terms(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path / "corpus")
    words = tmp_path / "dict.txt"  # jieba's format: word freq pos
    words.write_text("养老钱 500 n\n工作 90000 vn\n张三 800 nr\n钱 900 n\n", encoding="utf-8")
    options = MineOptions(key_min_freq=100, key_max_df=0, min_target_df=1, min_score=0.02)
    outs = []
    for run in range(2):
        entries = mine([corpus], FakeEmbedder().encode_queries, options, dict_path=words)
        write_dictionary(entries, tmp_path / f"out{run}.tsv", "test")
        outs.append((tmp_path / f"out{run}.tsv").read_bytes())
    assert outs[0] == outs[1]
    loaded = ColloquialTerms.load(tmp_path / "out0.tsv")
    assert loaded is not None and ColloquialTerms.load(tmp_path / "missing.tsv") is None
    # 养老钱 (a word the corpus never uses) gets 养老金; 工作 is the corpus's own word, 张三 a name, 钱 one character.
    assert loaded.entries == {"养老钱": ["养老金"]}
    assert np.isclose(entries["养老钱"][0][1], float(outs[0].decode().split(":")[-1]))
