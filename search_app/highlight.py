"""Query-term highlighting that can never inject markup.

Matches are found on the raw passage, then every piece of text between match
boundaries is escaped on its own and the `<mark>` tags are put between escaped
pieces. A tag is therefore never placed inside an entity such as `&amp;`, and a
passage or query holding `<script>` is rendered as text.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import unicodedata
from functools import lru_cache

from markupsafe import Markup, escape

# Common function words that would light up half of every passage.
_STOPWORDS = frozenset(
    "我们 你们 他们 什么 怎么 如何 怎样 哪些 为什么 关于 对于 以及 或者 还是 但是 而且 并且 因为 所以 如果 "
    "这个 那个 这些 那些 一个 一些 可以 进行 是否 有关 方面 问题 相关 主要 情况 the and for with of".split()
)


def _is_word(term: str) -> bool:
    """True when the term holds a letter, digit or ideograph (not only punctuation or space)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in term)


@lru_cache(maxsize=1)
def _lead_query_terms():
    """`indexer.textnorm.query_terms` when the indexer provides it, else None (jieba fallback)."""
    if importlib.util.find_spec("indexer.textnorm") is None:
        return None
    return getattr(importlib.import_module("indexer.textnorm"), "query_terms", None)


def _jieba_terms(query: str) -> list[str]:
    import jieba

    return [t for t in jieba.lcut_for_search(query) if t.strip().lower() not in _STOPWORDS]


@lru_cache(maxsize=1)
def _converters():
    """OpenCC simplified<->traditional converters, or () when OpenCC is not installed."""
    try:
        import opencc
    except ImportError:
        return ()
    return (opencc.OpenCC("t2s"), opencc.OpenCC("s2t"))


def _variants(term: str) -> set[str]:
    """The term in simplified and traditional script, so either script in a passage is marked."""
    out = {term}
    for conv in _converters():
        out.add(conv.convert(term))
    return out


@lru_cache(maxsize=512)
def query_terms(query: str) -> tuple[str, ...]:
    """Words of the query worth marking, longest first.

    Single characters are dropped (too noisy) unless the query is that single character.
    """
    query = query.strip()
    if not query:
        return ()
    fn = _lead_query_terms()
    raw = fn(query) if fn is not None else _jieba_terms(query)
    terms: set[str] = set()
    for term in raw:
        term = term.strip()
        if not term or not _is_word(term):
            continue
        if len(term) < 2 and term != query:
            continue
        terms |= _variants(term)
    return tuple(sorted(terms, key=lambda t: (-len(t), t)))


@lru_cache(maxsize=512)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    if not terms:
        return None
    # Longest alternatives first: at each position the longest term wins.
    return re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)


def match_spans(text: str, terms: tuple[str, ...]) -> list[tuple[int, int]]:
    """Non-overlapping [start, end) spans of the terms in the text; touching spans are merged."""
    pattern = _pattern(terms)
    if pattern is None:
        return []
    spans: list[tuple[int, int]] = []
    for m in pattern.finditer(text):
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
