"""Document metadata (title, date, year, source, type): checked, merged from its sources, guessed.

Metadata arrives from the file itself (Word core properties, HTML <meta>, a JSONL
line), from a `<file>.meta.json` sidecar and from CLI flags; the person who wrote
a sidecar or typed a flag knows better than the file, and the file better than a
guess from the title. Filters on year and type only work if every document gets
them the same way, so the merge lives in one place.
"""

from __future__ import annotations

import re

from indexer import numbers

FIELDS = ("title", "date", "year", "source", "type", "collections")
# Every document belongs to one or more named collections (see indexer/access.py); one given none belongs to
# this one, which a fresh install marks public, so `make run` over seeds/ needs no sign-in.
DEFAULT_COLLECTION = "公开文件"
COLLECTION_MAX_CHARS = 40
_COLLECTION_NAME = re.compile(r"^[^\x00-\x1f\x7f,/\\*]+$")
TYPES = ("speech", "report", "resolution", "notice", "other")
TITLE_MAX_CHARS = 60
HEADER_LINES = 6

# The word that names a document's kind comes last in its title: "关于政府工作报告的决议" is a resolution,
# "关于印发《……讲话》的通知" a notice.
_TYPE_WORDS = {
    "resolution": "决议|決議",
    "notice": "通知|通告|公告",
    "report": "报告|報告",
    "speech": "讲话|講話|发言|發言|致辞|致辭",
}
_DATE = re.compile(r"((?:19|20)\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def clean_fields(data: dict) -> dict:
    """The known fields of a sidecar, a JSONL line or CLI flags, checked; ValueError says what is wrong."""
    meta = {k: data[k] for k in FIELDS if data.get(k) not in (None, "", [])}
    if "collections" in meta:
        meta["collections"] = clean_collections(meta["collections"])
    wrong = [k for k in ("title", "date", "source", "type") if k in meta and not isinstance(meta[k], str)]
    if wrong:
        raise ValueError(f"{', '.join(wrong)} must be text")
    if "year" in meta:
        year = meta["year"]
        try:
            if isinstance(year, bool | float):
                raise ValueError
            meta["year"] = int(year)
        except (TypeError, ValueError):
            raise ValueError(f"year {year!r} is not a number") from None
    meta = {k: (v.strip() if isinstance(v, str) else v) for k, v in meta.items()}
    if "date" in meta:
        meta["date"] = normalise_date(meta["date"])
    return {k: v for k, v in meta.items() if v != ""}


def clean_collections(raw: object) -> list[str]:
    """A collection name, a comma-separated string of names or a list of names, checked; ValueError says why."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError("collections must be a name or a list of names")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("collection names must be text")
        out.append(check_collection_name(item))
    return sorted(set(out))


def check_collection_name(name: str) -> str:
    """A collection name: 1..40 characters, no control characters, commas, slashes or `*` (the wildcard)."""
    name = name.strip()
    if not name or len(name) > COLLECTION_MAX_CHARS or not _COLLECTION_NAME.match(name):
        raise ValueError(
            f"bad collection name {name[:COLLECTION_MAX_CHARS]!r}: 1 to {COLLECTION_MAX_CHARS} characters, "
            "no commas, slashes, '*' or control characters"
        )
    return name


def normalise_date(raw: str) -> str:
    """ISO form of a date ("2024-03-12 10:00", "2024年3月12日", "2024/3/12" -> "2024-03-12"); else as given."""
    match = _DATE.search(raw)
    if match:
        year, month, day = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return raw.strip()


def year_of(date: str | None) -> int | None:
    match = re.match(r"\s*((?:19|20)\d\d)(?!\d)", date or "")
    return int(match.group(1)) if match else None


def kind_of(label: str) -> str | None:
    """A type given by a file ("report", "通知") mapped to one of TYPES; None when it names none."""
    label = label.strip().lower()
    if label in TYPES:
        return label
    kind = guess_type(label)
    return None if kind == "other" else kind


def guess_type(title: str) -> str:
    """Document kind from its title: the kind word that comes last wins."""
    best, best_pos = "other", -1
    for kind, words in _TYPE_WORDS.items():
        for match in re.finditer(words, title):
            if match.start() > best_pos:
                best, best_pos = kind, match.start()
    return best


def guess_year(title: str) -> int | None:
    match = re.search(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", title)
    return int(match.group(1)) if match else None


def header(text: str) -> list[str]:
    """The short lines a document opens with (title block, "——在……上的报告", "（2022年10月16日）")."""
    lines = text.split("\n")[:HEADER_LINES]
    return [line for line in lines if len(line) <= TITLE_MAX_CHARS]


def header_year(text: str) -> int | None:
    for line in header(text):
        match = re.search(r"(?<!\d)((?:19|20)\d\d)年\d{1,2}月", line)
        if match:
            return int(match.group(1))
    return None


# Congresses whose documents rarely print their own date: the number names the year.
CPC_CONGRESS_YEARS = {
    1: 1921, 2: 1922, 3: 1923, 4: 1925, 5: 1927, 6: 1928, 7: 1945, 8: 1956, 9: 1969, 10: 1973,
    11: 1977, 12: 1982, 13: 1987, 14: 1992, 15: 1997, 16: 2002, 17: 2007, 18: 2012, 19: 2017, 20: 2022,
}  # fmt: skip
NPC_FIRST_SESSION_YEARS = {
    1: 1954, 2: 1959, 3: 1964, 4: 1975, 5: 1978, 6: 1983, 7: 1988, 8: 1993, 9: 1998, 10: 2003,
    11: 2008, 12: 2013, 13: 2018, 14: 2023,
}  # fmt: skip
NPC_SESSION_YEARS = {(2, 3): 1962, (2, 4): 1963}  # the years without a session
_CN_NUM = "[一二三四五六七八九十]{1,3}"
_NPC = re.compile(rf"第({_CN_NUM})届全国人民代表大会第({_CN_NUM})次会议")
_CPC = re.compile(rf"(?:中国共产党|党的)第({_CN_NUM})次全国代表大会|[（(]({_CN_NUM})大[)）]")
_CN_DATE = re.compile(r"([一二三四五六七八九〇○零]{4})年(?:([一二三四五六七八九十]{1,2})月)?")
_ARABIC_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)年(\d{1,2})月")


def cn_number(text: str) -> int | None:
    """一 .. 九十九 as written in congress names (十四, 二十, 二十一)."""
    if not text or any(ch not in "一二三四五六七八九十" for ch in text):
        return None
    value = numbers.cn_int(text)
    return value if value is not None and 1 <= value <= 99 else None


def congress_year(text: str) -> int | None:
    """Year from "第十三届全国人民代表大会第二次会议" or "中国共产党第十四次全国代表大会" / "(十四大)"."""
    m = _NPC.search(text)
    if m:
        term, session = cn_number(m.group(1)), cn_number(m.group(2))
        if term in NPC_FIRST_SESSION_YEARS and session:
            return NPC_SESSION_YEARS.get((term, session), NPC_FIRST_SESSION_YEARS[term] + session - 1)
    m = _CPC.search(text)
    if m:
        return CPC_CONGRESS_YEARS.get(cn_number(m.group(1) or m.group(2)) or 0)
    return None


def text_year(text: str) -> int | None:
    """A year from a date written in the document's opening or closing lines: 1987年10月25日,
    一九八七年十月二十五日, 二〇二二年 (dates mentioned in the body are history, not the document's date)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    for block in (lines[:HEADER_LINES], lines[-4:]):
        for line in block:
            if len(line) > TITLE_MAX_CHARS:
                continue
            m = _ARABIC_DATE.search(line)
            if m:
                return int(m.group(1))
            m = _CN_DATE.search(line)
            if m:
                year = numbers.cn_int(m.group(1))
                if year is not None and 1900 <= year <= 2100:
                    return year
    return None


def merge(title: str, text: str, layers: list[dict], default_source: str, timestamp: str = "") -> dict:
    """type, year, date and source of a document from `layers` (weakest first), else guessed.

    `timestamp` is a file's own creation date (Word, PDF): the date a file was
    made is a weaker clue to a document's year than its title or header.
    """
    given: dict = {}
    for layer in layers:
        given.update({k: v for k, v in layer.items() if k != "title"})
    kind = given.get("type") or guess_type(title)
    if kind == "other":
        kind = next((k for line in header(text) if (k := guess_type(line)) != "other"), "other")
    opening = "\n".join([title, *header(text)])
    congress = congress_year(opening)
    if kind == "other" and congress and _CPC.search(opening):  # a congress's political report, however titled
        kind = "report"
    year = (
        given.get("year")
        or year_of(given.get("date"))
        or guess_year(title)
        or header_year(text)
        or congress
        or text_year(text)
        or year_of(timestamp)
    )
    meta: dict = {"type": kind, "source": given.get("source") or default_source}
    if given.get("collections"):  # none given: the default collection (indexer.access.collections_of)
        meta["collections"] = list(given["collections"])
    if year:
        meta["year"] = year
    if given.get("date") or timestamp:
        meta["date"] = given.get("date") or timestamp
    return meta


def refreshed(title: str, text: str, meta: dict, sidecar: dict) -> dict:
    """Metadata of an indexed document re-derived with today's rules (`indexer refresh-meta`).

    What was given stays (a sidecar, a year or date already known, a real type); only what is missing
    or was the fallback type "other" is derived again.
    """
    kept = {k: v for k, v in meta.items() if k in FIELDS and v not in (None, "")}
    if kept.get("type") == "other":
        kept.pop("type")
    fresh = merge(title, text, [kept, sidecar], meta.get("source") or "")
    return {**meta, **{k: fresh[k] for k in ("year", "type", "date") if fresh.get(k) not in (None, "")}}
