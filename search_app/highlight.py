"""Query-term highlighting that can never inject markup.

Terms come from `indexer.textnorm.query_terms` (the same jieba tokens, folded, that
the lexical ranking uses). They are matched in the *folded* passage, which has the
same length as the original, so a simplified query marks a traditional passage and
ＧＤＰ matches gdp. Every piece of the raw passage between match boundaries is then
escaped on its own and the tags go between escaped pieces: a tag can never land
inside an entity such as `&amp;`, and `<script>` in a passage or query stays text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from markupsafe import Markup, escape

from indexer import textnorm


@lru_cache(maxsize=512)
def query_terms(query: str) -> tuple[str, ...]:
    """Folded terms worth marking, longest first (so 高质量发展 wins over 发展).

    A one-character query (税) is kept although single characters are otherwise too noisy.
    """
    terms = [t for t in textnorm.query_terms(query) if t]
    if not terms:
        q = textnorm.fold(query.strip())
        if len(q) == 1 and unicodedata.category(q)[0] in "LN":
            terms = [q]
    return tuple(sorted(set(terms), key=lambda t: (-len(t), t)))


@lru_cache(maxsize=512)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Longest alternatives first: at each position the longest term wins.
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))


def match_spans(text: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) spans of the (folded) terms in the text; touching spans merge."""
    pattern = _pattern(terms)
    if pattern is None or not text:
        return []
    folded = textnorm.fold(text)
    if len(folded) != len(text):  # fold promises equal length; if not, match the raw text safely
        folded = text.lower()
    spans: list[tuple[int, int]] = []
    for m in pattern.finditer(folded):
        if spans and m.start() <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], m.end()))
        else:
            spans.append((m.start(), m.end()))
    return spans


def _render_marks(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> str:
    """Escape text[lo:hi] piece by piece and wrap the parts covered by spans in <mark>."""
    out: list[str] = []
    pos = lo
    for start, end in spans:
        start, end = max(start, lo), min(end, hi)
        if start >= end:
            continue
        out.append(str(escape(text[pos:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        pos = end
    out.append(str(escape(text[pos:hi])))
    return "".join(out)


def highlight(text: str, terms: tuple[str, ...], best: tuple[int, int] | None = None) -> Markup:
    """HTML for a passage: query terms in <mark>, the best sentence in <strong class="best">.

    `best` is a [start, end) span into `text` (SearchResult.best_sentence_start/end); an
    empty or out-of-range span is ignored rather than trusted.
    """
    spans = match_spans(text, terms)
    n = len(text)
    if best is None or not (0 <= best[0] < best[1] <= n):
        return Markup(_render_marks(text, 0, n, spans))
    b0, b1 = best
    return Markup(
        _render_marks(text, 0, b0, spans)
        + '<strong class="best">'
        + _render_marks(text, b0, b1, spans)
        + "</strong>"
        + _render_marks(text, b1, n, spans)
    )
