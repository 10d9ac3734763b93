"""The English -> Chinese lexicon (CC-CEDICT read in reverse) and the other query-side levers."""

from datetime import date
from pathlib import Path

import numpy as np

from indexer.expansion import (
    EN_STOPWORDS,
    YearTargets,
    absolute_years,
    congress_years,
    congresses,
    english_terms,
    feedback_terms,
    prefer_years,
    quantity_tense,
    query_years,
    year_targets,
)
from indexer.lexical import BM25Index, Lexicon, english_words
from indexer.retrieval import SearchEngine
from indexer.tools.lexicon import gloss_keys, merge_glossary, reverse, write_lexicon
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import write_test_index
from tests.support.settings import test_settings

CEDICT = """# a comment
國內生產總值 国内生产总值 [guo2 nei4 sheng1 chan3 zong3 zhi2] /gross domestic product (GDP)/
養老金 养老金 [yang3 lao3 jin1] /pension/
退休金 退休金 [tui4 xiu1 jin1] /retirement pay/pension/
年金 年金 [nian2 jin1] /annuity/pension/
鐵路 铁路 [tie3 lu4] /railroad/railway/CL:條|条[tiao2]/
退休 退休 [tui4 xiu1] /to retire (from the workforce); to go into retirement/
王 王 [Wang2] /surname Wang/
生僻詞語 生僻词语 [x] /pension/
"""
KNOWN = {"国内生产总值": 50, "养老金": 300, "退休金": 200, "年金": 10, "铁路": 900, "退休": 400, "王": 1000}


def test_glosses_become_keys() -> None:
    assert gloss_keys("to retire (from the workforce)") == ["retire"]
    assert gloss_keys("gross domestic product (GDP)") == ["gdp", "gross domestic product"]
    assert gloss_keys("surname Wang") == [] and gloss_keys("CL:條|条[tiao2]") == []
    # a name and what it is: the name is the key (the whole gloss is too long to be one)
    assert gloss_keys("Beijing, capital of the People's Republic of China") == ["beijing"]
    assert gloss_keys("Chen Duxiu (1879-1942), founding member of the CCP") == ["chen duxiu"]
    assert gloss_keys("close, near") == []  # not a name: a lower-case gloss keeps its comma and fails as a key


def test_reverse_keeps_known_words_most_frequent_first() -> None:
    lex = reverse(CEDICT.splitlines(), KNOWN)
    assert lex["pension"] == ["养老金", "退休金", "年金"]  # 生僻词语 is unknown to the tokenizer: left out
    assert lex["gdp"] == ["国内生产总值"] and lex["railway"] == lex["railroad"] == ["铁路"]
    assert "wang" not in lex  # single characters and surnames are not terms


def test_written_file_loads_back_and_translates_phrases(tmp_path: Path) -> None:
    write_lexicon(reverse(CEDICT.splitlines(), KNOWN), tmp_path / "en_zh.tsv")
    lexicon = Lexicon.load(tmp_path / "en_zh.tsv")
    assert lexicon is not None and Lexicon.load(tmp_path / "missing.tsv") is None
    terms = lexicon.terms("what was the gross domestic product and the pensions".split())
    assert terms["国内生产总值"] == 1.0  # the three-word key wins over its single words
    assert set(terms) == {"国内生产总值", "养老金", "退休金", "年金"}  # plural folded: pensions -> pension
    assert abs(terms["养老金"] - 1 / 3) < 1e-9  # a key's words share its weight
    numbers = english_terms("How long were the railways in 2019, up 16%?", lexicon)
    assert numbers["铁路"] == 1.0 and numbers["2019"] == 1.0 and numbers["16%"] == 1.0


def test_english_question_reaches_a_chinese_passage_through_bm25(tmp_path: Path) -> None:
    write_lexicon(reverse(CEDICT.splitlines(), KNOWN), tmp_path / "en_zh.tsv")
    lexicon = Lexicon.load(tmp_path / "en_zh.tsv")
    from indexer import textnorm

    passages = ["城乡居民基础养老金最低标准提高20元", "铁路营业里程达到15万公里", "国内生产总值增长5%左右"]
    bm25 = BM25Index.build([textnorm.tokenize(p) for p in passages])
    assert bm25.search(textnorm.tokenize("How much will the basic pension rise?"), 3)[0].size == 0  # no overlap
    rows, _ = bm25.search_weighted(english_terms("How much will the basic pension rise?", lexicon), 3)
    assert rows[0] == 0
    rows, _ = bm25.search_weighted(english_terms("GDP growth target", lexicon), 3)
    assert rows[0] == 2


def test_query_years_however_written() -> None:
    assert query_years("2023年GDP增长多少") == [2023]
    assert query_years("二〇二一年全国财政收入") == [2021]
    assert query_years("十九大报告") == [] and query_years("增长1.3万亿元") == []


def test_prefer_years_lifts_the_next_years_report() -> None:
    ranked = [(0, 1.0), (1, 0.95), (2, 0.9)]  # rows 0, 1, 2 from the 2023, 2024, 2022 reports
    years = {2023: np.array([True, False, False]), 2024: np.array([False, True, False])}
    asked = YearTargets(same=(2023,), next=(2023,))
    out = prefer_years(ranked, asked, years.get, boost_next=0.2, boost_same=0.0)
    assert [row for row, _ in out] == [1, 0, 2]
    assert prefer_years(ranked, YearTargets(), years.get, 0.2, 0.1) == ranked  # no year named: unchanged
    assert prefer_years(ranked, asked, years.get, 0.0, 0.0) == ranked  # lever off
    # a target asked for: the year's own report only, even where the next year's bonus is larger
    out = prefer_years(ranked, year_targets("2023年经济增长的预期目标是多少"), years.get, 0.3, 0.2)
    assert [row for row, _ in out] == [0, 1, 2]


def test_a_quantity_asked_as_target_or_as_result_points_to_its_report() -> None:
    assert quantity_tense("二〇一六年要改造多少万套棚户区住房") == "plan"
    assert quantity_tense("2007年全国财政比预算超收多少") == "result"
    assert quantity_tense("2019年城镇新增就业1352万人，完成预期目标了吗") is None  # no quantity asked
    assert quantity_tense("2018年要实现的增长目标是多少") is None  # both wordings: says nothing
    assert year_targets("2016年要改造多少万套棚户区住房") == YearTargets(same=(2016,))
    assert year_targets("2007年全国财政比预算超收多少") == YearTargets(next=(2007,))
    assert year_targets("2021年农民工工资怎么保障") == YearTargets(same=(2021,), next=(2021,))


def test_a_year_naming_the_report_points_to_that_report() -> None:
    assert year_targets("2023年报告说过去五年养老保险费率降了多少") == YearTargets(same=(2023,))
    assert year_targets("二〇一六年政府工作报告说蓝天有多少") == YearTargets(same=(2016,))
    assert year_targets("十七大以后2008年的工作") == YearTargets(same=(2007,))  # a congress names its own year


def test_english_questions_read_the_same_year_rule() -> None:
    assert quantity_tense("How much did the economy grow in 2023?") == "result"
    assert quantity_tense("How fast is the economy expected to grow in 2024?") == "plan"
    assert quantity_tense("How high was the growth target for 2024?") is None  # both wordings: says nothing
    assert quantity_tense("What is the growth target for 2024?") is None  # no quantity asked
    assert quantity_tense("How did the 2022 report describe schools?") is None  # no quantity asked
    assert year_targets("How many new urban jobs were created in 2019?") == YearTargets(next=(2019,))
    assert year_targets("How many new urban jobs does China plan for 2019?") == YearTargets(same=(2019,))
    assert year_targets("What did the 2022 report say about homework?") == YearTargets(same=(2022,))
    assert year_targets("What did the 2022 government work report say about homework?") == YearTargets(same=(2022,))
    assert year_targets("What happened to rural schools in 2022?") == YearTargets(same=(2022,), next=(2022,))


def test_years_named_relative_to_today_are_written_out() -> None:
    assert absolute_years("去年的政府工作报告对房地产怎么说", 2026) == "2025年的政府工作报告对房地产怎么说"
    assert absolute_years("前年经济增长了多少", 2026) == "2024年经济增长了多少"
    assert absolute_years("What did last year's report say about housing?", 2026) == (
        "What did the 2025 report say about housing?"
    )
    assert absolute_years("How much did GDP grow last year?", 2026) == "How much did GDP grow 2025?"
    # beside a year the question names, 去年 is relative to that report, not to today
    assert absolute_years("2016年报告说去年经济增长了多少", 2026) == "2016年报告说去年经济增长了多少"
    # written out, the year rules read them like any year
    assert year_targets(absolute_years("去年的报告怎么说房地产", 2026)) == YearTargets(same=(2025,))
    assert year_targets(absolute_years("前年经济增长了多少", 2026)) == YearTargets(next=(2024,))


def test_search_reads_relative_years_against_the_engines_clock(tmp_path: Path) -> None:
    write_test_index(tmp_path)  # documents of 2024 and 2021
    engine = SearchEngine(test_settings(index_dir=tmp_path), FakeEmbedder())
    engine.hybrid.today = lambda: date(2025, 3, 5)
    hybrid = engine.search("去年的报告怎么说经济增长", mode="hybrid")
    assert hybrid.parsed["text"] == "2024年的报告怎么说经济增长"
    assert hybrid.expanded["preferred_years"] == [2024]
    assert engine.search("去年的报告怎么说经济增长", mode="lexical").parsed["text"] == "去年的报告怎么说经济增长"


def test_feedback_terms_are_informative_and_new() -> None:
    idf = {"养老金": 3.0, "标准": 1.0, "提高": 0.5, "城乡居民": 2.0}.get
    terms = feedback_terms(["城乡居民基础养老金最低标准提高20元"], {"提高"}, lambda t: idf(t, 0.0), 2)
    assert terms == ["养老金", "城乡居民"]


def test_the_corpus_picks_among_a_words_senses(tmp_path: Path) -> None:
    write_lexicon(reverse(CEDICT.splitlines(), KNOWN), tmp_path / "en_zh.tsv")
    lexicon = Lexicon.load(tmp_path / "en_zh.tsv")
    idf = {"养老金": 2.0, "年金": 3.0}.get  # this corpus never writes 退休金
    terms = lexicon.terms(["pension"], idf=lambda t: idf(t, 0.0))
    assert terms == {"养老金": 0.5, "年金": 0.5}
    assert lexicon.terms(["railway"], idf=lambda t: 0.0) == {}  # no word of the corpus: nothing added


def test_a_party_congress_named_in_english_or_chinese() -> None:
    assert congresses("What did the 17th Party Congress report say?") == [17]
    assert congresses("Did the 12th CPC National Congress promise it?") == [12]
    assert congresses("十七大报告提出的科学发展观") == [17] and congresses("党的第二十次全国代表大会") == [20]
    assert congresses("十六大要求2020年GDP翻两番") == [16] and congresses("十七大 文化大革命") == [17]
    assert congresses("三大攻坚战") == [] and congresses("十大类产品") == [] and congresses("the 21st century") == []
    assert congress_years("the 17th Party Congress") == [2007]
    assert congresses("women members at the time of the Third Party Congress?") == [3]
    assert congresses("Chen Duxiu's report to the Twelfth Congress") == [12] and congresses("a third party") == []


def test_a_phrase_with_a_stopword_at_its_edge_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "en_zh.tsv"
    path.write_text("the core\t地地道道\ncore\t核心\nhow much\t几何\nthird party\t第三方\n", encoding="utf-8")
    lexicon = Lexicon.load(path)
    assert lexicon.terms(["what", "is", "the", "core"], EN_STOPWORDS) == {"核心": 1.0}
    assert lexicon.terms(["how", "much"], EN_STOPWORDS) == {}
    # a congress is named by its Chinese names, so its words are not looked up ("third party" is 第三方)
    assert "第三方" not in english_terms("members at the Third Party Congress", lexicon)


def test_an_english_congress_becomes_its_chinese_names_on_the_lexical_side(tmp_path: Path) -> None:
    from indexer import textnorm

    write_lexicon(reverse(CEDICT.splitlines(), KNOWN), tmp_path / "en_zh.tsv")
    terms = english_terms("the 17th Party Congress", Lexicon.load(tmp_path / "en_zh.tsv"))
    assert set(textnorm.tokenize("第十七次全国代表大会 十七大")) <= set(terms)


def test_a_named_congress_lifts_its_own_years_documents_only() -> None:
    ranked = [(0, 1.0), (1, 0.95), (2, 0.9)]  # rows from 2008, 2007 and 2002 documents
    years = {2008: np.array([True, False, False]), 2007: np.array([False, True, False])}
    out = prefer_years(ranked, year_targets("十七大报告"), years.get, boost_next=0.2, boost_same=0.2)
    assert [row for row, _ in out] == [1, 0, 2]
    out = prefer_years(ranked, YearTargets(same=(2006,)), years.get, boost_next=0.2, boost_same=0.2)
    assert out == ranked  # 2006 names no document here; the year after a congress is not lifted


def test_the_policy_glossary_joins_the_lexicon_its_terms_first(tmp_path: Path) -> None:
    cuts = {"减税降费": ["减税", "降费"], "中国梦": ["中国", "梦"]}
    segment = lambda term: cuts.get(term, [term])  # noqa: E731 - the tokenizer, for these terms
    glossary = {
        "common prosperity": ["共同富裕"], "whole-process people's democracy": ["全过程人民民主"],
        "tax and fee cuts": ["减税降费"], "chinese dream": ["中国梦"], "pension": ["养老保险"],
    }  # fmt: skip
    lex = merge_glossary(reverse(CEDICT.splitlines(), KNOWN), glossary, segment)
    assert lex["common prosperity"] == ["共同富裕"]
    assert lex["whole-process people democracy"] == ["全过程人民民主"]  # keys read like questions ("people's")
    assert lex["tax and fee cuts"] == ["减税·降费"]  # cut in two by the tokenizer: both words needed
    assert "chinese dream" not in lex  # 中国 alone would be wrong: left out
    assert lex["pension"][0] == "养老保险" and "养老金" in lex["pension"]  # glossary first, CC-CEDICT after

    write_lexicon(lex, tmp_path / "en_zh.tsv")
    lexicon = Lexicon.load(tmp_path / "en_zh.tsv")
    words = english_words("how does the report describe whole-process people's democracy?")
    assert lexicon.terms(words, EN_STOPWORDS) == {"全过程人民民主": 1.0}  # a key of three words, longest first
    idf = {"减税": 2.0, "降费": 3.0}
    assert lexicon.terms(["tax", "and", "fee", "cuts"], idf=lambda t: idf.get(t, 0.0)) == {"减税": 1.0, "降费": 1.0}
    assert lexicon.terms(["tax", "and", "fee", "cuts"], idf=lambda t: 2.0 if t == "减税" else 0.0) == {}
