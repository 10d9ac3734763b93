"""The query language, parsed in one place for the page, the JSON API and the batch CLI.

    乡村振兴 农民增收            a plain question: ranked as before (no word is required)
    "新质生产力"                  exact phrase: the passage must contain it, contiguous
    房地产 -调控 -"房住不炒"      exclusions: no passage containing 调控 or 房住不炒
    "共同富裕" OR "先富带后富"    at least one of the alternatives must occur
    year:2018..2024 type:报告     inline filters (year:2018, year:..2023, year:2018.., type:report)

Phrases and exclusions are matched after folding (traditional -> simplified, full-width -> half-width,
lower case), so "新質生產力" finds 新质生产力. They are hard constraints in every mode. Anything the
grammar does not recognise (an unbalanced quote, a dangling OR, `year:abc`) is read literally as search
text and a note says so: a query never fails because of its syntax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from indexer import textnorm

# Quote characters people type: ASCII, full-width and the Chinese curly and corner quotes.
_OPEN_CLOSE = {'"': '"', "＂": "＂", "“": "”", "「": "」", "『": "』"}
_OR_WORDS = ("OR", "|", "或")
_FILTER_RE = re.compile(r"^(year|年份|年|type|类型):(.*)$", re.IGNORECASE)
_YEAR_RANGE_RE = re.compile(r"^(\d{4})?(?:(\.\.|–|~|-)(\d{4})?)?$")
YEAR_MIN, YEAR_MAX = 1000, 2999
TYPE_NAMES = {
    "讲话": "speech",
    "講話": "speech",
    "发言": "speech",
    "报告": "report",
    "報告": "report",
    "决议": "resolution",
    "決議": "resolution",
    "通知": "notice",
    "其他": "other",
}


@dataclass(frozen=True)
class Note:
    """How part of a query was read; Chinese for the page, English for logs and the API."""

    zh: str
    en: str


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    text: str  # what is embedded and tokenised: plain words and the wanted phrases
    phrases: tuple[str, ...] = ()  # folded, each required
    any_of: tuple[tuple[str, ...], ...] = ()  # folded groups joined by OR: one member of each required
    excluded: tuple[str, ...] = ()  # folded words or phrases no passage may contain
    year_from: int | None = None
    year_to: int | None = None
    types: tuple[str, ...] = ()
    notes: tuple[Note, ...] = field(default_factory=tuple)

    @property
    def required(self) -> bool:
        """A phrase or OR group: the matching passages form an exact set."""
        return bool(self.phrases or self.any_of)

    @property
    def constrained(self) -> bool:
        return bool(self.phrases or self.any_of or self.excluded)

    @property
    def has_filters(self) -> bool:
        return bool(self.year_from or self.year_to or self.types)

    def understood_zh(self) -> str:
        """One line for the page: how the query was understood."""
        parts = []
        if self.phrases:
            parts.append("必须包含" + "、".join(f"“{p}”" for p in self.phrases))
        for group in self.any_of:
            parts.append("至少包含" + " 或 ".join(f"“{p}”" for p in group))
        if self.excluded:
            parts.append("排除" + "、".join(f"“{p}”" for p in self.excluded))
        if self.year_from or self.year_to:
            parts.append(f"年份 {self.year_from or '…'}–{self.year_to or '…'}")
        if self.types:
            parts.append("类型 " + "、".join(self.types))
        return "；".join(parts)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "phrases": list(self.phrases),
            "any_of": [list(g) for g in self.any_of],
            "excluded": list(self.excluded),
            "year_from": self.year_from,
            "year_to": self.year_to,
            "types": list(self.types),
            "understood": self.understood_zh(),
            "notes": [{"zh": n.zh, "en": n.en} for n in self.notes],
        }


@dataclass
class _Item:
    text: str
    phrase: bool = False
    negative: bool = False


def _lex(raw: str, notes: list[Note]) -> list[_Item]:
    """Split into words and quoted phrases; `-` right before one marks an exclusion."""
    items: list[_Item] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch.isspace():
            i += 1
            continue
        negative = ch in "-－" and i + 1 < n and not raw[i + 1].isspace()
        j = i + 1 if negative else i
        close = _OPEN_CLOSE.get(raw[j])
        if close is not None:
            end = raw.find(close, j + 1)
            if end < 0 and close != raw[j]:
                end = raw.find(raw[j], j + 1)
            if end < 0:  # unbalanced: the quote is read as an ordinary character
                notes.append(Note(f"引号 {raw[j]} 不成对，按普通文字理解", f"unbalanced quote {raw[j]} read literally"))
                i = _word(raw, j + 1, items, False, notes)
                continue
            phrase = raw[j + 1 : end].strip()
            if phrase:
                items.append(_Item(phrase, phrase=True, negative=negative))
            else:
                notes.append(Note("空引号已忽略", "empty quotes ignored"))
            i = end + 1
            continue
        i = _word(raw, j, items, negative, notes)
    return items


def _word(raw: str, i: int, items: list[_Item], negative: bool, notes: list[Note]) -> int:
    j = i
    while j < len(raw) and not raw[j].isspace() and raw[j] not in _OPEN_CLOSE:
        j += 1
    word = raw[i:j]
    if word:
        items.append(_Item(word, negative=negative))
    elif negative:
        items.append(_Item(raw[i - 1]))
    return max(j, i + 1) if not word else j


def _parse_years(value: str) -> tuple[int | None, int | None] | None:
    m = _YEAR_RANGE_RE.match(value.strip())
    if not m or not (m.group(1) or m.group(3)):
        return None
    lo = int(m.group(1)) if m.group(1) else None
    hi = int(m.group(3)) if m.group(3) else (lo if not m.group(2) else None)
    if any(y is not None and not YEAR_MIN <= y <= YEAR_MAX for y in (lo, hi)):
        return None
    if lo is not None and hi is not None and lo > hi:
        return None
    return lo, hi


def _type_key(value: str, known_types: tuple[str, ...] | None) -> str | None:
    v = value.strip()
    key = TYPE_NAMES.get(v, v.lower())
    if known_types is not None and key not in known_types:
        return None
    return key or None


def _apply_filter(item: _Item, state: dict, notes: list[Note], known_types) -> bool:
    """A `year:`/`type:` item sets a filter; False when it is not one (then it is read as text)."""
    m = _FILTER_RE.match(item.text) if not item.phrase and not item.negative else None
    if not m:
        return False
    name, value = m.group(1).lower(), m.group(2)
    if name in ("year", "年份", "年"):
        years = _parse_years(value)
        if years is None:
            notes.append(
                Note(
                    f"“{item.text}”不是有效的年份范围（如 year:2018..2024），按普通文字理解",
                    f"{item.text!r} is not a year range (e.g. year:2018..2024); read as text",
                )
            )
            return False
        state["year_from"], state["year_to"] = years
        return True
    key = _type_key(value, known_types)
    if key is None:
        notes.append(
            Note(f"没有“{value}”这种文档类型，按普通文字理解", f"unknown document type {value!r}; read as text")
        )
        return False
    state["types"].append(key)
    return True


def _groups(items: list[_Item], notes: list[Note]) -> list[list[_Item]]:
    """Join items around OR into groups; a dangling OR is a plain word."""
    groups: list[list[_Item]] = []
    pending_or = False
    for k, item in enumerate(items):
        is_or = not item.phrase and not item.negative and item.text in _OR_WORDS
        if is_or:
            prev_ok = bool(groups) and not groups[-1][-1].negative
            next_ok = k + 1 < len(items) and not items[k + 1].negative and items[k + 1].text not in _OR_WORDS
            if prev_ok and next_ok:
                pending_or = True
                continue
            notes.append(Note(f"“{item.text}”两边缺少词语，按普通文字理解", f"dangling {item.text!r} read as a word"))
        if pending_or:
            groups[-1].append(item)
            pending_or = False
        else:
            groups.append([item])
    return groups


def parse(raw: str, known_types: tuple[str, ...] | None = None) -> ParsedQuery:
    """Read a query; never raises. `known_types` limits what `type:` accepts (None: anything)."""
    notes: list[Note] = []
    state: dict = {"year_from": None, "year_to": None, "types": []}
    items = [it for it in _lex(raw, notes) if not _apply_filter(it, state, notes, known_types)]
    phrases, any_of, excluded, words = [], [], [], []
    for group in _groups(items, notes):
        if len(group) > 1:
            any_of.append(tuple(dict.fromkeys(textnorm.fold(g.text) for g in group)))
            words.extend(g.text for g in group)
        elif group[0].negative:
            excluded.append(textnorm.fold(group[0].text))
        elif group[0].phrase:
            phrases.append(textnorm.fold(group[0].text))
            words.append(group[0].text)
        else:
            words.append(group[0].text)
    if phrases and _soft_quotes(raw, words, phrases):
        notes.append(Note("英文问题中的引号按强调理解", "quotes in an English question read as emphasis"))
        phrases = []
    text = " ".join(words)
    if not text and excluded:  # nothing wanted: the whole query is the text, read literally
        notes.append(Note("只有排除词，没有要查找的内容：按原文搜索", "only exclusions: the query is read literally"))
        return ParsedQuery(raw=raw, text=raw.strip(), notes=tuple(notes))
    return ParsedQuery(
        raw=raw,
        text=text,
        phrases=tuple(dict.fromkeys(phrases)),
        any_of=tuple(any_of),
        excluded=tuple(dict.fromkeys(excluded)),
        year_from=state["year_from"],
        year_to=state["year_to"],
        types=tuple(dict.fromkeys(state["types"])),
        notes=tuple(notes),
    )


def _soft_quotes(raw: str, words: list[str], phrases: list[str]) -> bool:
    """An English question quoting an English term ("involution") asks about a Chinese text that cannot
    hold the term verbatim: the quotes mark emphasis, not a hard constraint. A query that is only
    quoted Latin text (`"GDP"`), or any query with Chinese in it, keeps its exact phrases."""
    return not textnorm.has_chinese(raw) and len(words) > len(phrases)


def satisfies(folded_text: str, pq: ParsedQuery) -> bool:
    """Whether one folded passage meets the query's hard constraints (for tests and small sets)."""
    if any(p not in folded_text for p in pq.phrases):
        return False
    if any(not any(m in folded_text for m in group) for group in pq.any_of):
        return False
    return not any(x in folded_text for x in pq.excluded)


class PassageScan:
    """The folded text of every passage of one index version, for exact phrase and exclusion tests.

    One string joined by NUL (no query contains one), so finding a phrase is one C-speed scan and a
    binary search maps match offsets to rows; about 3 bytes a character in memory.
    """

    def __init__(self, texts: list[str]):
        folded = [textnorm.fold(t).replace("\0", " ") for t in texts]
        lengths = [len(t) + 1 for t in folded]
        self.n = len(folded)
        self.text = "\0".join(folded)
        self.starts = np.zeros(self.n, dtype=np.int64)
        if self.n > 1:
            np.cumsum(lengths[:-1], out=self.starts[1:])

    def rows_with(self, needle: str) -> np.ndarray:
        """Boolean mask of the rows whose folded text contains `needle`."""
        mask = np.zeros(self.n, dtype=bool)
        if not needle or self.n == 0:
            return mask
        hits = [m.start() for m in re.finditer(re.escape(needle), self.text)]
        if hits:
            mask[np.searchsorted(self.starts, np.array(hits, dtype=np.int64), side="right") - 1] = True
        return mask

    def constraint_mask(self, pq: ParsedQuery) -> np.ndarray | None:
        """Rows meeting every phrase, OR group and exclusion of `pq`; None when it has none."""
        if not pq.constrained:
            return None
        mask = np.ones(self.n, dtype=bool)
        for p in pq.phrases:
            mask &= self.rows_with(p)
        for group in pq.any_of:
            some = np.zeros(self.n, dtype=bool)
            for member in group:
                some |= self.rows_with(member)
            mask &= some
        for x in pq.excluded:
            mask &= ~self.rows_with(x)
        return mask
