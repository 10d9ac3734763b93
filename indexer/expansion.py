"""The lexical side of a question beyond its own words: English -> Chinese terms, terms fed back
from the passages found by meaning, and a preference for the documents of the year asked about.

All three work on data already at hand at query time (the lexicon file, the dense ranking's
top passages, each document's year), so none adds a model call to a query.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import numpy as np

from indexer import textnorm
from indexer.lexical import Lexicon
from indexer.numbers import fold_numbers

_EN_WORD_RE = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")
_YEAR_RE = re.compile(r"(?<!\d)(19[4-9]\d|20\d\d)(?!\d)")
EN_STOPWORDS = textnorm.STOPWORDS | frozenset(
    "how many much long was were there their they them its according during after before about into than also "
    "would should will can could been has have had not no yes where whom whose say said tell me please "
    "s china's chinese china government report".split()
)


def english_terms(query: str, lexicon: Lexicon) -> dict[str, float]:
    """Chinese terms for an English question, plus its numbers (2024, 16%) as they are tokenised."""
    folded = textnorm.fold(query)
    words = [w.strip("'") for w in _EN_WORD_RE.findall(folded.replace("'s ", " "))]
    terms = lexicon.terms([w for w in words if w], EN_STOPWORDS)
    for token in textnorm.tokenize(query):
        if any(ch.isdigit() for ch in token):
            terms[token] = 1.0
    return terms


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


def prefer_years(
    ranked: list[tuple[int, float]],
    years: list[int],
    rows_of_year: Callable[[int], np.ndarray | None],
    boost_next: float,
    boost_same: float,
) -> list[tuple[int, float]]:
    """Fused scores plus a bonus for passages of the year asked about and of the next year.

    A year's results are reported in the next year's government work report ("2023年GDP增长多少"
    is answered in the 2024 report), its targets in that year's own.
    """
    if not years or not ranked or (boost_next <= 0 and boost_same <= 0):
        return ranked
    bonus: dict[int, float] = {}
    for year in years:
        for rows_year, boost in ((year + 1, boost_next), (year, boost_same)):
            mask = rows_of_year(rows_year) if boost > 0 else None
            if mask is None:
                continue
            for row, _ in ranked:
                if mask[row]:
                    bonus[row] = max(bonus.get(row, 0.0), boost)
    if not bonus:
        return ranked
    out = [(row, score + bonus.get(row, 0.0)) for row, score in ranked]
    return sorted(out, key=lambda item: (-item[1], item[0]))
