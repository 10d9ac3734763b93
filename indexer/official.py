"""Official-document fields (GB/T 9704-2012, the layout of 党政机关公文) read from a document's text.

A 公文 opens with its 版头 (发文机关标志 "国务院文件", 发文字号 "国发〔2024〕1号", for
upward documents 签发人), then the title and the 主送机关 line ending in "：";
after the body come 附件说明, the 落款 (issuing body) and the 成文日期, and at the
foot the 版记 (抄送, "国务院办公厅 2024年1月8日印发"). Researchers' databases are
built around these fields, so they are stored as metadata, filtered on and matched
exactly: a query that is a 发文字号 finds its document first. The brackets of a
发文字号 vary in the wild (〔〕, [], (), （）, 【】); the stored form uses 〔〕.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer import numbers

FIELDS = (
    "issuer",  # 发文机关
    "doc_number",  # 发文字号, normalised to 〔〕
    "signer",  # 签发人
    "addressee",  # 主送机关
    "written_date",  # 成文日期, ISO
    "printed_by",  # 印发机关
    "printed_date",  # 印发日期, ISO
    "attachments",  # 附件 (list of names)
    "cc",  # 抄送
)
LABELS = {
    "issuer": "发文机关",
    "doc_number": "发文字号",
    "signer": "签发人",
    "addressee": "主送机关",
    "written_date": "成文日期",
    "printed_by": "印发机关",
    "printed_date": "印发日期",
    "attachments": "附件",
    "cc": "抄送",
}
HEAD_LINES = 12
TAIL_LINES = 15
SHORT_LINE = 40
_CJK = r"\u4e00-\u9fff"
_OPEN, _CLOSE = r"〔\[\(（【［", r"〕\]\)）】］"
DOC_NUMBER = re.compile(rf"([{_CJK}]{{1,12}})\s*[{_OPEN}]\s*((?:19|20)\d\d)\s*[{_CLOSE}]\s*第?\s*(\d{{1,5}})\s*号")
_CN_DAY = r"(\d{1,2}|[一二三四五六七八九十]{1,3})"
_DATE = rf"((?:19|20)\d\d|[〇零○一二三四五六七八九]{{4}})\s*年\s*{_CN_DAY}\s*月\s*{_CN_DAY}\s*日"
_DATE_LINE = re.compile(rf"^[（(]?{_DATE}[）)]?$")
_PRINTED = re.compile(rf"^(.+?)\s*{_DATE}\s*印\s*发$")
_SIGNER = re.compile(r"签\s*发\s*人\s*[：:]\s*(.+?)\s*$")
_ISSUER_MARK = re.compile(rf"^([{_CJK}\s]{{2,40}}?)\s*文\s*件$")
# OCR reads a "：" as "；" now and then (the dots of both sit in the same place): after 附件/抄送 either counts
_ATTACHMENT = re.compile(r"^附\s*件\s*(?:\d+)?\s*[：:；;]\s*(.*)$")
_NUMBERED = re.compile(r"^\d{1,2}\s*[.．、]\s*(\S.*)$")
_CC = re.compile(r"^抄\s*送\s*[：:；;]\s*(.+?)[。.]?$")
_TITLE_ISSUER = re.compile(rf"^([{_CJK}、\s]{{2,40}}?)关于")
_SENTENCE = re.compile(r"[，。；！？]")


@dataclass(frozen=True)
class DocNumber:
    prefix: str  # 机关代字 ("国发", "国办函")
    year: int
    serial: int

    def __str__(self) -> str:
        return f"{self.prefix}〔{self.year}〕{self.serial}号"

    def matches(self, other: DocNumber) -> bool:
        """Same year and serial, and one prefix ends the other ("查国发" vs "国发")."""
        same = self.year == other.year and self.serial == other.serial
        return same and (self.prefix.endswith(other.prefix) or other.prefix.endswith(self.prefix))


def parse_number(text: str) -> DocNumber | None:
    """The first 发文字号 in `text`, any bracket style; None when there is none."""
    match = DOC_NUMBER.search(text or "")
    if not match:
        return None
    return DocNumber(match.group(1), int(match.group(2)), int(match.group(3)))


def _cn_int(raw: str) -> int:
    """1-31 or a year from digits or Chinese numerals ("二〇二四", "十二", "二十五"); 0 if neither."""
    if raw.isdigit():
        return int(raw)
    return numbers.cn_int(raw.replace("Ｏ", "〇").replace("O", "〇")) or 0  # OCR reads 〇 as a letter O


def iso_date(year: str, month: str, day: str) -> str:
    y, m, d = _cn_int(year), _cn_int(month), _cn_int(day)
    return f"{y:04d}-{m:02d}-{d:02d}" if 1 <= m <= 12 and 1 <= d <= 31 else ""


def _head_fields(head: list[str], title: str) -> dict:
    out: dict = {}
    for i, line in enumerate(head):
        number = DOC_NUMBER.search(line)
        if number and "doc_number" not in out and len(line) <= len(number.group()) + 20:
            out["doc_number"] = str(parse_number(number.group()))
        signer = _SIGNER.search(line)
        if signer and "signer" not in out:
            out["signer"] = " ".join(signer.group(1).split())
        mark = _ISSUER_MARK.match(line)
        if mark and "issuer" not in out and i < 4:
            out["issuer"] = " ".join(mark.group(1).split())
        if _addressee_end(line, head[i - 1] if i else "") and "addressee" not in out and not _SIGNER.search(line):
            if i > 0 and not _ATTACHMENT.match(line) and len(line) <= 200:
                out["addressee"] = line[:-1].strip()
    return out


def _addressee_end(line: str, before: str) -> bool:
    """Does the line end as a 主送机关 line does: "：", or (as OCR may read it) "；" right after a "…关于…" title?"""
    return line.endswith(("：", ":")) or (line.endswith(("；", ";")) and bool(_TITLE_ISSUER.match(before)))


def _attachments(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        match = _ATTACHMENT.match(line)
        if not match:
            continue
        first = match.group(1).strip()
        names = [_NUMBERED.sub(r"\1", first).strip()] if first else []
        for nxt in lines[i + 1 : i + 10]:
            numbered = _NUMBERED.match(nxt)
            if not numbered or len(nxt) > 80:
                break
            names.append(numbered.group(1).strip())
        return [n for n in names if n]
    return []


def _tail_fields(tail: list[str]) -> dict:
    out: dict = {}
    for i, line in enumerate(tail):
        printed = _PRINTED.match(line)
        if printed:
            out["printed_by"] = " ".join(printed.group(1).split())
            out["printed_date"] = iso_date(*printed.group(2, 3, 4))
        cc = _CC.match(line)
        if cc:
            out["cc"] = cc.group(1).strip()
        date = _DATE_LINE.match(line)
        if date and not printed:
            out["written_date"] = iso_date(*date.group(1, 2, 3))
            before = tail[i - 1] if i else ""
            if before and len(before) <= SHORT_LINE and not _SENTENCE.search(before) and not DOC_NUMBER.search(before):
                out["signed_by"] = before.strip()
    return out


def read_fields(text: str, title: str = "") -> dict:
    """The GB/T 9704 fields found in a document's text (one paragraph per line); {} for an ordinary text.

    Only a document with a 发文字号 in its header, or with a 版记 (印发 line), is taken for a 公文:
    a speech that happens to end with a date gets no fields.
    """
    lines = [line.strip() for line in (text or "").split("\n") if line.strip()]
    if not lines:
        return {}
    head, tail = lines[:HEAD_LINES], lines[-TAIL_LINES:]
    out = _head_fields(head, title)
    tail_fields = _tail_fields(tail)
    if "doc_number" not in out and "printed_by" not in tail_fields:
        return {}
    signed_by = tail_fields.pop("signed_by", "")
    out.update(tail_fields)
    by_title = _TITLE_ISSUER.match(title or lines[0])
    out["issuer"] = out.get("issuer") or signed_by or (" ".join(by_title.group(1).split()) if by_title else "")
    attachments = _attachments(lines[len(head) // 2 :])
    if attachments:
        out["attachments"] = attachments
    return {k: out[k] for k in FIELDS if out.get(k)}


def number_year(meta: dict) -> int | None:
    number = parse_number(str((meta or {}).get("doc_number") or ""))
    return number.year if number else None


def issuers_of(meta: dict) -> list[str]:
    """The issuing bodies of a document: a joint document ("中共中央办公厅 国务院办公厅") has several."""
    return [part for part in re.split(r"[\s、,，]+", str((meta or {}).get("issuer") or "")) if part]


def matches_filter(meta: dict, issuers: tuple[str, ...], number_years: tuple[int, ...]) -> bool:
    """Does a document pass the issuing-body and 发文字号-year filters (an issuer matches by substring)?"""
    if issuers:
        own = str((meta or {}).get("issuer") or "")
        if not any(wanted and wanted in own for wanted in issuers):
            return False
    if number_years and number_year(meta) not in number_years:
        return False
    return True


def title_line(text: str, fields: dict) -> str:
    """A 公文's title: the first header line after the 版头 (issuer mark, 发文字号, 签发人); "" for other texts."""
    if not fields:
        return ""
    for line in [line.strip() for line in text.split("\n")[:HEAD_LINES]]:
        if not line or _ISSUER_MARK.match(line) or _SIGNER.search(line) or DOC_NUMBER.fullmatch(line):
            continue
        if DOC_NUMBER.match(line) and len(line) <= len(DOC_NUMBER.match(line).group()) + 20:
            continue
        return line if len(line) <= 80 and not line.endswith(("：", ":")) else ""
    return ""
