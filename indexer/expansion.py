"""The lexical side of a question beyond its own words: English -> Chinese terms, the documents'
official wording for a question's colloquial words, terms fed back from the passages found by
meaning, and a preference for the documents of the year asked about.

All work on data already at hand at query time (the lexicon and colloquial dictionary files, the
dense ranking's top passages, each document's year), so none adds a model call to a query.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer import metadata, numbers, textnorm
from indexer.lexical import Lexicon, english_words, read_term_table
from indexer.numbers import fold_numbers

_YEAR_RE = re.compile(r"(?<!\d)(19[4-9]\d|20\d\d)(?!\d)")
# A party congress named in a question: "the 17th Party Congress", "十七大报告", "第十七次全国代表大会".
_EN_ORDINALS = {
    w: i for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split(), start=1)
}  # fmt: skip
_CONGRESS_EN = re.compile(
    rf"\b(?:(\d{{1,2}})(?:st|nd|rd|th)|({'|'.join(_EN_ORDINALS)}))\s+(?:(?:cpc|communist)\s+)?(?:party\s+)?"
    r"(?:national\s+)?congress"
)
_CN_NUM = "[一二三四五六七八九十]{1,3}"
# 十一大 .. 二十九大 stand alone; 三大, 五大 also mean "the three/five big ..." unless a report is meant.
_CONGRESS_ZH = re.compile(
    r"(?<![一二三四五六七八九十])(十[一二三四五六七八九]|二十[一二三四五六七八九]?)大(?![学型类批量项])"
    rf"|(?<![一二三四五六七八九十])({_CN_NUM})大(?=报告|政治报告|提出|强调|指出|上的)|第({_CN_NUM})次全国代表大会"
)
EN_STOPWORDS = textnorm.STOPWORDS | frozenset(
    "how many much long was were there their they them its according during after before about into than also "
    "would should will can could been has have had not no yes where whom whose say said tell me please "
    "s china's chinese china government report".split()
)


def english_terms(query: str, lexicon: Lexicon, idf: Callable[[str], float] | None = None) -> dict[str, float]:
    """Chinese terms for an English question, plus its numbers (2024, 16%) as they are tokenised.

    With the index's `idf`, the corpus picks among a word's senses (see `Lexicon.terms`)."""
    folded = textnorm.fold(query)
    folded = _CONGRESS_EN.sub(" ", folded)  # named below by its Chinese names ("third party" is 第三方)
    terms = lexicon.terms(english_words(folded), EN_STOPWORDS, idf)
    for token in textnorm.tokenize(query):
        if any(ch.isdigit() for ch in token):
            terms[token] = 1.0
    for n in congresses(query):  # the congress by its Chinese names, as the documents write it
        for token in textnorm.tokenize(f"第{numbers.cn_name(n)}次全国代表大会 {numbers.cn_name(n)}大"):
            terms[token] = 1.0
    return terms


def congresses(query: str) -> list[int]:
    """Numbers of the party congresses a question names, in English or Chinese."""
    folded = textnorm.fold(query).lower()
    found = {int(m.group(1)) if m.group(1) else _EN_ORDINALS[m.group(2)] for m in _CONGRESS_EN.finditer(folded)}
    for m in _CONGRESS_ZH.finditer(folded):
        found.add(metadata.cn_number(m.group(1) or m.group(2) or m.group(3)) or 0)
    return sorted(n for n in found if n in metadata.CPC_CONGRESS_YEARS)


def congress_years(query: str) -> list[int]:
    """Years of the congresses a question names: their reports are documents of that year."""
    return [metadata.CPC_CONGRESS_YEARS[n] for n in congresses(query)]


class ColloquialTerms:
    """Colloquial word -> the corpus's official terms (data/dict/colloquial.tsv, `python -m
    indexer.tools.colloquial`): 电费 -> 电价, 买房 -> 购房, mined from the corpus and the model alone."""

    def __init__(self, entries: dict[str, list[str]]):
        self.entries = entries

    @classmethod
    def load(cls, path: Path) -> ColloquialTerms | None:
        """The dictionary at `path` (`word<TAB>term:score ...`), or None when there is none."""
        table = read_term_table(path)
        if table is None:
            return None
        return cls({key: [item.rsplit(":", 1)[0] for item in items] for key, items in table.items()})

    def expand(self, tokens: list[str], weight: float) -> dict[str, float]:
        """The query's tokens at weight 1 plus the official terms of its colloquial words at `weight`."""
        terms = dict.fromkeys(tokens, 1.0)
        if weight <= 0:
            return terms
        for official in self.added(tokens).values():
            for term in official:
                terms.setdefault(term, weight)
        return terms

    def added(self, tokens: list[str]) -> dict[str, list[str]]:
        """Each colloquial word of the query -> the official terms it adds (terms the query holds already left out),
        so the reader can be shown what else was looked for."""
        own = set(tokens)
        out: dict[str, list[str]] = {}
        for token in dict.fromkeys(tokens):
            terms = [t for t in self.entries.get(token, ()) if t not in own]
            if terms:
                out[token] = terms
        return out


def feedback_terms(
    texts: list[str], query_terms: set[str], idf: Callable[[str], float], n_terms: int
) -> list[str]:
    """The n terms of the top passages that carry the most information (frequency x idf), new to the query.

    Terms of two or more characters only: single characters and numbers are too loose to add.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(t for t in textnorm.tokenize(text) if len(t) > 1 and not t.isdigit())
    scored = sorted(
        ((n * idf(t), t) for t, n in counts.items() if t not in query_terms and idf(t) > 0), key=lambda x: (-x[0], x[1])
    )
    return [t for _, t in scored[:n_terms]]


def query_years(query: str) -> list[int]:
    """Years a question names, however written (2023年, 二〇二三年)."""
    found = _YEAR_RE.findall(fold_numbers(textnorm.fold(query)))
    return sorted({int(y) for y in found})


# Years named relative to today, and how far back each is.
_RELATIVE_YEARS = {"今年": 0, "去年": -1, "前年": -2, "this year": 0, "last year": -1, "the year before last": -2}
_RELATIVE_ZH = re.compile(r"今年|去年|前年")
_RELATIVE_EN_REPORT = re.compile(r"\b(this year|last year)'s ((?:government )?(?:work )?report)\b", re.I)
_RELATIVE_EN = re.compile(r"\b(?:this year|last year|the year before last)\b", re.I)


def absolute_years(query: str, this_year: int) -> str:
    """The question with the years it names relative to `this_year` written out ("去年的报告" -> "2025年的报告",
    "last year's report" -> "the 2025 report"), so its vector, its BM25 terms and the year rules all see the year.

    A question that names a year itself is left as it is: beside "2016年报告", 去年 is relative to that report.
    """
    if query_years(query):
        return query
    def year(phrase: str) -> int:
        return this_year + _RELATIVE_YEARS[phrase.lower()]

    text = _RELATIVE_ZH.sub(lambda m: f"{year(m.group(0))}年", query)
    text = _RELATIVE_EN_REPORT.sub(lambda m: f"the {year(m.group(1))} {m.group(2)}", text)
    return _RELATIVE_EN.sub(lambda m: str(year(m.group(0))), text)


# A question asking for a quantity, and whether it asks for a year's target or for its result (Chinese wording).
_QUANTITY = ("多少", "几", "多大", "多高", "多快", "多长")
_PLAN = ("目标", "计划", "预期", "要", "将", "拟", "力争", "准备", "打算", "安排")
_RESULT = ("了", "实现", "完成", "达到", "超过", "超收", "累计")
_NAMED_REPORT = re.compile(r"(?<!\d)(19[4-9]\d|20\d\d)年(?:的)?(?:政府工作)?报告")
# The same in English questions: "how much did … grow in 2023" asks for a result, "how fast is … expected to grow in
# 2024" for a plan; "the 2022 report" names the report.
_QUANTITY_EN = re.compile(
    r"\b(?:how (?:much|many|fast|high|large|big|long)|what (?:percentage|percent|share|rate|proportion))\b", re.I
)
_PLAN_EN = re.compile(
    r"\b(?:targets?|targeted|plans?|planned|aims?|goals?|will|expected|projected|intends?)\b", re.I
)
_RESULT_EN = re.compile(
    r"\b(?:did|was|were|had|reached|achieved|grew|rose|fell|increased|decreased|declined|exceeded|completed)\b", re.I
)
_NAMED_REPORT_EN = re.compile(r"\b(19[4-9]\d|20\d\d)(?: government)?(?: work)? report\b", re.I)


@dataclass(frozen=True)
class YearTargets:
    """The document years a question's years point to: `same`, the years' own documents; `next`, the next year's
    (a year's results are reported in the next year's government work report)."""

    same: tuple[int, ...] = ()
    next: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.same or self.next)


def quantity_tense(query: str) -> str | None:
    """"plan" or "result" for a question asking for a quantity in target or in result wording, else None.

    "2016年要改造多少万套棚户区" asks for that year's target (its own report); "2007年财政超收多少" for its
    result (the next year's report); in English likewise "how fast is the economy expected to grow in 2024" and
    "how much did the economy grow in 2023". Wording with both, or neither, says nothing.
    """
    folded = textnorm.fold(query)
    if not textnorm.has_chinese(folded):
        if not _QUANTITY_EN.search(folded):
            return None
        plan, result = bool(_PLAN_EN.search(folded)), bool(_RESULT_EN.search(folded))
    else:
        if not any(w in folded for w in _QUANTITY):
            return None
        plan, result = any(w in folded for w in _PLAN), any(w in folded for w in _RESULT)
    return "plan" if plan and not result else "result" if result and not plan else None


def named_reports(query: str) -> set[int]:
    """Years whose report a question names: "2023年报告", "2016年政府工作报告", "the 2022 report"."""
    folded = fold_numbers(textnorm.fold(query))
    pattern = _NAMED_REPORT if textnorm.has_chinese(folded) else _NAMED_REPORT_EN
    return {int(y) for y in pattern.findall(folded)}


def year_targets(query: str) -> YearTargets:
    """Which documents the years of a question point to.

    A congress named points to its own year's documents only (a year beside it is a target or history); a year
    naming the report ("2023年报告说…") to that report; a quantity asked in target wording to the year's own
    report, in result wording to the next year's; any other year to both.
    """
    congress = congress_years(query)
    if congress:
        return YearTargets(same=tuple(congress))
    years = query_years(query)
    reports = named_reports(query)
    tense = quantity_tense(query)
    same = tuple(y for y in years if y in reports or tense != "result")
    later = tuple(y for y in years if y not in reports and tense != "plan")
    return YearTargets(same, later)


def year_boosts(targets: YearTargets, boost_next: float, boost_same: float) -> list[tuple[int, float]]:
    """(document year, bonus) pairs for a question's year targets, bonuses of 0 left out."""
    pairs = [(y + 1, boost_next) for y in targets.next] + [(y, boost_same) for y in targets.same]
    return [(year, boost) for year, boost in pairs if boost > 0]


def preferred_years(targets: YearTargets, boost_next: float, boost_same: float) -> list[int]:
    """The document years `prefer_years` lifts for these year targets."""
    return sorted({year for year, _ in year_boosts(targets, boost_next, boost_same)})


def prefer_years(
    ranked: list[tuple[int, float]],
    targets: YearTargets,
    rows_of_year: Callable[[int], np.ndarray | None],
    boost_next: float,
    boost_same: float,
) -> list[tuple[int, float]]:
    """Fused scores plus a bonus for passages of the documents a question's years point to (`year_targets`)."""
    if not targets or not ranked or (boost_next <= 0 and boost_same <= 0):
        return ranked
    bonus: dict[int, float] = {}
    for rows_year, boost in year_boosts(targets, boost_next, boost_same):
        mask = rows_of_year(rows_year)
        if mask is None:
            continue
        for row, _ in ranked:
            if mask[row]:
                bonus[row] = max(bonus.get(row, 0.0), boost)
    if not bonus:
        return ranked
    out = [(row, score + bonus.get(row, 0.0)) for row, score in ranked]
    return sorted(out, key=lambda item: (-item[1], item[0]))
