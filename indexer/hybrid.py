"""How hybrid ranking reads a question beside embedding it: its BM25 terms and BM25's weight in the fusion (an
English question's Chinese terms, the official terms of a Chinese question's colloquial words), and the document
years it prefers. The rules themselves live in indexer.expansion; this module applies them with the engine's
settings, dictionaries and index version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from indexer import textnorm
from indexer.backend import IndexReader
from indexer.config import Settings
from indexer.expansion import (
    ColloquialTerms,
    YearTargets,
    absolute_years,
    english_terms,
    feedback_terms,
    prefer_years,
    preferred_years,
    year_targets,
)
from indexer.lexical import Lexicon
from indexer.numbers import fold_numbers
from indexer.query import ParsedQuery
from indexer.textnorm import has_chinese


@dataclass
class HybridQuery:
    """How hybrid ranking reads a question besides embedding it, worked out once per question: its BM25 terms
    and BM25's weight in the fusion, what those terms add to the question's own words, the years it names."""

    terms: dict[str, float]
    weight: float
    official: dict[str, list[str]]  # each colloquial word -> the official terms it added
    translated: bool  # the terms are an English question's Chinese terms
    years: YearTargets  # the document years its years and congresses point to


class HybridReader:
    """Reads questions for hybrid ranking; holds the dictionaries (loaded once) and each year's rows per version."""

    def __init__(self, settings: Settings, today: Callable[[], date] = date.today) -> None:
        self.settings = settings
        self.today = today  # what 今年 / 去年 / "last year" in a question are read against
        self._lexicon: Lexicon | None | bool = False  # False: not loaded yet
        self._colloquial: ColloquialTerms | None | bool = False
        self._year_rows: dict[tuple[str, int], np.ndarray | None] = {}

    @property
    def lexicon(self) -> Lexicon | None:
        """The English -> Chinese lexicon (loaded once; None when the file was not built)."""
        if self._lexicon is False:
            self._lexicon = Lexicon.load(self.settings.lexicon_file)
        return self._lexicon

    @property
    def colloquial(self) -> ColloquialTerms | None:
        """The colloquial -> official wording dictionary (loaded once; None when there is none)."""
        if self._colloquial is False:
            self._colloquial = ColloquialTerms.load(self.settings.colloquial_file)
        return self._colloquial

    def lexical_weight(self, query: str) -> float:
        """Chinese words carry BM25; a query without any Chinese (an English question) only adds noise.

        A number or year in a Chinese question (however written) is matched exactly by BM25 and only
        loosely by the small model, so such questions lean a little more on the lexical side.
        """
        s = self.settings
        if not has_chinese(query):
            return s.lexical_weight_no_cjk
        if any(ch.isdigit() for ch in fold_numbers(textnorm.fold(query))):
            return s.lexical_weight * s.lexical_digits_factor
        return s.lexical_weight

    def with_absolute_years(self, pq: ParsedQuery) -> ParsedQuery:
        """The parsed question with the years it names relative to today (今年, 去年, last year) written out, for
        the modes that read meaning (expansion.absolute_years); keyword mode stays literal."""
        text = absolute_years(pq.text, self.today().year) if pq.text else pq.text
        return pq if text == pq.text else replace(pq, text=text)

    def read(self, version: IndexReader, query: str, tokens: list[str]) -> HybridQuery:
        """The question's BM25 terms and weight, and the years it names (see HybridQuery).

        English questions are looked up in the lexicon (their words as Chinese terms); a Chinese
        question's colloquial words add the documents' official terms at a lower weight. Otherwise a
        question is its own tokens.
        """
        s = self.settings
        hq = HybridQuery(dict.fromkeys(tokens, 1.0), self.lexical_weight(query), {}, False, year_targets(query))
        if s.colloquial_weight > 0 and has_chinese(query) and self.colloquial is not None:
            hq.official = self.colloquial.added(tokens)
            hq.terms = self.colloquial.expand(tokens, s.colloquial_weight)
        if not has_chinese(query) and s.lexical_weight_en > 0 and self.lexicon is not None:
            translated = english_terms(query, self.lexicon, version.bm25.term_idf)
            if translated:
                hq.terms, hq.weight, hq.translated = translated, s.lexical_weight_en, True
        return hq

    def lexical_side(self, version: IndexReader, hq: HybridQuery, dense, pool: int, allowed):
        """The BM25 ranking for hybrid fusion and its weight: the question's terms (`read`); with feedback on, the
        top dense passages' most informative terms join them at a lower weight."""
        s = self.settings
        terms, weight = dict(hq.terms), hq.weight
        if s.prf_docs > 0 and s.prf_terms > 0 and s.prf_weight > 0 and weight > 0 and len(dense[0]):
            texts = [c.text for c in version.chunks_at(dense[0][: s.prf_docs].tolist())]
            for term in feedback_terms(texts, set(terms), version.bm25.term_idf, s.prf_terms):
                terms.setdefault(term, s.prf_weight)
        if all(w == 1.0 for w in terms.values()):
            return version.bm25.search(list(terms), pool, allowed), weight
        return version.bm25.search_weighted(terms, pool, allowed), weight

    def prefer_years(self, version: IndexReader, hq: HybridQuery, ranked: list[tuple[int, float]]):
        """The fused ranking with the passages of the years the question asks about lifted (expansion.prefer_years)."""
        s = self.settings

        def rows_of_year(year: int):
            key = (version.name, year)
            if key not in self._year_rows:
                if len(self._year_rows) > 256:
                    self._year_rows.clear()
                self._year_rows[key] = version.allowed_rows(year_from=year, year_to=year)
            return self._year_rows[key]

        return prefer_years(ranked, hq.years, rows_of_year, s.year_boost_next, s.year_boost_same)

    def expanded(self, hq: HybridQuery | None) -> dict:
        """What hybrid ranking looked for beyond the question's own words, for the reader to see: the official
        terms of its colloquial words, an English question's Chinese terms, the document years it prefers (all
        empty in the other modes)."""
        s = self.settings
        out: dict = {"official_terms": [], "chinese_terms": [], "preferred_years": []}
        if hq is None:
            return out
        out["official_terms"] = [{"word": word, "terms": terms} for word, terms in hq.official.items()]
        if hq.translated:
            shown = sorted((t for t, w in hq.terms.items() if w >= 0.5 and not any(c.isdigit() for c in t)),
                           key=lambda t: (-hq.terms[t], t))  # fmt: skip
            out["chinese_terms"] = shown[:8]
        out["preferred_years"] = preferred_years(hq.years, s.year_boost_next, s.year_boost_same)
        return out
