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


# Words so common in policy writing that marking them marks everything (the idf cut catches most of
# them on a big index; on a small one it cannot, so they are listed too).
HIGHLIGHT_STOPWORDS = frozenset(
    "问题 工作 国家 我们 你们 他们 不会 可以 进行 方面 通过 已经 需要 重要 加强 推进 坚持 提高 发展 建设 "
    "实现 全面 进一步 有关 相关 各种 一些 这些 那些 没有 不是 就是 还是 怎么样 为什么 什么样 哪里 时候 "
    "主要 情况 同时 以及 因为 所以 如果 但是 而且 或者 对于 关于 根据 按照 今年 去年 明年 目前 当前".split()
)


def informative_terms(query: str, idf=None, phrases: tuple[str, ...] = (), min_idf: float = 1.5) -> tuple[str, ...]:
    """Terms worth marking: the query's phrases whole, plus words that are neither listed stopwords nor
    common in the index (idf below `min_idf`; `idf(term)` is 0 for a word the index does not know).

    A query made only of common words keeps them all: marking something beats marking nothing.
    """
    words = query_terms(query)
    kept = tuple(
        t for t in words if t not in HIGHLIGHT_STOPWORDS and (idf is None or not (0 < idf(t) < min_idf))
    )
    if not kept and not phrases:
        kept = words
    folded = tuple(textnorm.fold(p) for p in phrases if p)
    return tuple(sorted(set(kept) | set(folded), key=lambda t: (-len(t), t)))
