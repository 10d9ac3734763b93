"""Text folding and tokenisation for matching (never for display).

Folding maps traditional to simplified characters (OpenCC t2s), full-width ASCII to
half-width and case to lower, one character for one character, so offsets found in
folded text are valid in the original. Tokens come from jieba loaded with the
policy-term dictionary (`Settings.terms_file`, handed over by `use_terms`), so fixed terms
such as 两个确立 stay whole.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba
import opencc

from indexer.config import Settings
from indexer.numbers import fold_numbers

_terms_file: Path = Settings().terms_file  # the default; the engine and the pipeline pass theirs to use_terms
# Bump when `tokenize` can give other tokens for the same text; an index records it, and adding to an
# index made by another version re-tokenises its passages (no re-embedding). "1": before numbers were folded.
TOKENIZER_VERSION = "2"

_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_WIDTH[0x3000] = 0x20
_t2s = opencc.OpenCC("t2s")
_t2s_lock = threading.Lock()  # the OpenCC binding is not documented as thread-safe

STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 对 把 被 为 以 于 其 之 也 都 而 并 等 这 那 有 个 要 我们 我 你 他 它 "
    "什么 怎么 怎样 如何 哪些 哪个 吗 呢 吧 啊 一 上 中 下 就 还 又 从 到 向 将 让 使 给 "
    "the a an of to in on for and or is are was were what which how why when who does do did "
    "with by from at as be that this it its".split()
)
_PUNCT_RE = re.compile(r"^[\W_]+$", re.UNICODE)
# CJK Unified Ideographs with Extension A, compatibility ideographs, and Extensions B-I with the
# compatibility supplement (U+20000-U+323AF): a query with any of them is a Chinese query.
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af]")


def has_chinese(text: str) -> bool:
    """Any CJK ideograph, Extensions A-I included (rare characters in names and places count too)."""
    return _CJK_RE.search(text) is not None


def fold(text: str) -> str:
    """Simplified, half-width, lower-case; same length as the input."""
    with _t2s_lock:
        simplified = _t2s.convert(text)
        if len(simplified) != len(text):  # a phrase rule changed length: go char by char
            simplified = "".join(_t2s.convert(ch) if len(_t2s.convert(ch)) == 1 else ch for ch in text)
    return simplified.translate(_WIDTH).lower()


def use_terms(path: Path) -> None:
    """Tokenise with this term dictionary from now on (one per process: indexing and search must agree)."""
    global _terms_file
    _terms_file = Path(path)


def _tokenizer() -> jieba.Tokenizer:
    return _tokenizer_for(_terms_file)


@lru_cache(maxsize=2)
def _tokenizer_for(terms_file: Path) -> jieba.Tokenizer:
    tok = jieba.Tokenizer()
    tok.initialize()
    if terms_file.exists():
        with open(terms_file, "rb") as fh:  # jieba leaves a path it opened unclosed
            tok.load_userdict(fh)
    return tok


def _keep(token: str) -> bool:
    token = token.strip()
    return bool(token) and token not in STOPWORDS and not _PUNCT_RE.match(token)


def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens of the folded text: words plus their sub-words, for recall.

    Numbers are written one way first (`indexer.numbers`: 二〇二〇 -> 2020, 百分之五 -> 5%),
    so a figure matches however the text or the question spells it.
    """
    return [t.strip() for t in _tokenizer().cut_for_search(fold_numbers(fold(text))) if _keep(t)]


def segment(text: str) -> list[str]:
    """Plain jieba segmentation (no sub-words), used to show how terms are cut."""
    return [t for t in _tokenizer().lcut(fold(text)) if t.strip()]


def query_terms(query: str) -> list[str]:
    """Distinct terms worth highlighting: longest first, so 高质量发展 wins over 发展."""
    terms = {t for t in tokenize(query) if len(t) > 1 or unicodedata.category(t[0])[0] in "LN" and t.isascii()}
    return sorted(terms, key=lambda t: (-len(t), t))
