"""Split a normalised document into passages that follow its heading structure.

Chinese policy writing numbers its structure with a fixed family of markers
(一、 / （一） / 1. / （1） / 一是 ...). A passage labelled with the headings above it
("三、…… > 一是进一步筑牢意识形态安全屏障") is far easier to retrieve and to read in a
result list than a window cut at a fixed size, so sections are found first and
only then cut to size at sentence ends.

Bump CHUNKER_VERSION whenever the output for the same text can change: the
indexer uses it to know that stored chunks are stale.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field

from indexer import numbers
from indexer.models import Chunk, Document
from indexer.sentences import CLAUSE_END, LINE_END, ends_sentence, split_sentences

CHUNKER_VERSION = "2"

_CN = "一二三四五六七八九十"
_CN_BIG = _CN + "百零〇"
_ARABIC = "0-9０-９"
PURE_HEADING_MAX_CHARS = 80  # a marked line this short with no sentence end is a heading line
TITLE_MAX_CHARS = 60  # a title taken from the first sentence of a paragraph is cut to this
SELF_CONTAINED_BODY = 50  # a point whose paragraph has this much more than its title stands alone


@dataclass(frozen=True)
class Level:
    """One kind of heading marker."""

    name: str
    pattern: re.Pattern
    pure_only: bool = False  # only a line of its own counts (章, 节 ... rarely open a paragraph)
    marker_title: bool = False  # the title is the marker alone ("第三条"), not the first sentence
    point: bool = False  # an enumerated point: numbering may restart at 1 anywhere
    self_contained: bool = False  # with a body, it labels its own paragraph only
    floating: bool = False  # its rank among the floating levels follows the document (see _ranks)


def _level(name: str, regex: str, **flags) -> Level:
    return Level(name, re.compile(regex), **flags)


# Default rank order, outer to inner. 第X条 sits under 章/节 and above 一、: in laws an
# article holds (一)/1. items, which must not close it. The floating levels keep this
# order unless a document uses them the other way round (see _ranks).
LEVELS: tuple[Level, ...] = (
    _level("part", rf"^第(?P<num>[{_CN_BIG}\d]{{1,4}})(?:编|編|部分)", pure_only=True),
    _level("chapter", rf"^第(?P<num>[{_CN_BIG}\d]{{1,4}})章", pure_only=True),
    _level("section", rf"^第(?P<num>[{_CN_BIG}\d]{{1,4}})[节節]", pure_only=True),
    _level("article", rf"^第(?P<num>[{_CN_BIG}\d]{{1,5}})[条條](?=\s|$|[：:])", marker_title=True),
    _level("cn", rf"^(?P<num>[{_CN}]{{1,3}})、(?![{_CN}两]{{1,2}}(?:、|月|季度))", floating=True),
    _level("cn_paren", rf"^[（(](?P<num>[{_CN}]{{1,3}})[）)]", floating=True),
    _level("arabic", rf"^(?P<num>[{_ARABIC}]{{1,2}})[.．、](?![{_ARABIC}])", floating=True),
    _level("arabic_paren", rf"^[（(](?P<num>[{_ARABIC}]{{1,2}})[）)]", self_contained=True, floating=True),
    _level("circled", r"^(?P<num>[\u2460-\u2473])", pure_only=True, floating=True),
    _level("ordinal", rf"^第(?P<num>[{_CN}]{{1,3}})[，、,]", point=True, self_contained=True, floating=True),
    _level("point", rf"^(?P<num>[{_CN}]{{1,3}})[是要](?=\S)", point=True, self_contained=True),
)
_MARKDOWN = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_MD_LEVELS = 6  # markdown heading ranks 0..5 come before all of LEVELS


@dataclass
class _Heading:
    level: int  # index into LEVELS, or -1 .. -6 for markdown # .. ######
    number: int
    title: str
    pure: bool  # a heading line of its own, not part of the body
    self_contained: bool = False

    @property
    def spec(self) -> Level | None:
        return LEVELS[self.level] if self.level >= 0 else None


@dataclass
class _Section:
    path: tuple[str, ...]
    spans: list[tuple[int, int]] = field(default_factory=list)  # paragraphs, offsets into the text


# --- numbers and markers ---------------------------------------------------------------


def _number(raw: str) -> int:
    if re.fullmatch(r"[\u2460-\u2473]", raw):
        return ord(raw) - 0x2460 + 1
    if raw.isdigit():
        return int(raw)  # int() reads full-width digits too
    return numbers.cn_int(raw) or 0


def _ends_clause(text: str) -> bool:
    """Ends like a sentence or an introduction ("……如下："): not a heading line."""
    return ends_sentence(text, LINE_END)


def _first_clause(text: str, skip: int) -> str:
    """The paragraph's first sentence (after its marker), trimmed to a title."""
    match = re.search(f"[{re.escape(CLAUSE_END)}]", text[skip:])
    title = text[: skip + match.start()] if match else text
    title = title.rstrip(CLAUSE_END + "，,、 ")
    if len(title) <= TITLE_MAX_CHARS:
        return title
    cut = max(title.rfind(p, 0, TITLE_MAX_CHARS) for p in "，,、")
    return title[:cut] if cut >= 10 else title[:TITLE_MAX_CHARS]


def _parse_heading(paragraph: str, markdown: bool) -> _Heading | None:
    """A heading candidate if the paragraph opens with a marker; the outline decides later."""
    if markdown and (md := _MARKDOWN.match(paragraph)):
        return _Heading(-len(md["hashes"]), 0, md["title"], pure=True)
    for index, level in enumerate(LEVELS):
        match = level.pattern.match(paragraph)
        if not match:
            continue
        if not paragraph[match.end() :].strip() and not level.marker_title:
            return None  # a bare "一、" carries no title
        pure = len(paragraph) <= PURE_HEADING_MAX_CHARS and not _ends_clause(paragraph)
        if level.pure_only and not pure:
            return None
        if pure:
            title = paragraph
        elif level.marker_title:
            title = match.group(0).strip()
        else:
            title = _first_clause(paragraph, match.end())
        contained = level.self_contained and not pure and len(paragraph) - len(title) >= SELF_CONTAINED_BODY
        return _Heading(index, _number(match["num"]), title, pure, contained)
    return None


# --- sections ------------------------------------------------------------------------------


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank line, trimmed, so offsets stay exact on any input."""
    spans = []
    for match in re.finditer(r"[^\n]+", text):
        line = match.group()
        stripped = line.strip()
        if stripped:
            start = match.start() + (len(line) - len(line.lstrip()))
            spans.append((start, start + len(stripped)))
    return spans


def _ranks(candidates: list[_Heading]) -> dict[int, int]:
    """Rank of each level in this document, outer = smaller.

    Floating levels are ordered by where their first heading *line* appears: most
    documents open with 一、 and nest （一） inside, but some (the 1981 report) open
    with （一） and nest 一、 inside. Levels never seen as a heading line keep the
    default order after those that were.
    """
    first_line: dict[int, int] = {}
    for pos, h in enumerate(candidates):
        if h.pure and h.level >= 0 and LEVELS[h.level].floating:
            first_line.setdefault(h.level, pos)
    floating = [i for i, lv in enumerate(LEVELS) if lv.floating]  # contiguous slots in LEVELS
    ordered = sorted(floating, key=lambda i: (first_line.get(i, len(candidates)), i))
    ranks = {i: _MD_LEVELS + i for i in range(len(LEVELS))}
    for slot, level in zip(floating, ordered):
        ranks[level] = _MD_LEVELS + slot
    return ranks


class _Outline:
    """The open headings while reading a document top to bottom."""

    def __init__(self, candidates: list[_Heading]) -> None:
        self.ranks = _ranks(candidates)
        # A level that has heading lines of its own: its markers opening body paragraphs are list items.
        self.has_lines = {h.level for h in candidates if h.pure}
        self.stack: list[_Heading] = []
        self.last: dict[int, int] = {}  # level -> number of its last heading under the current parent
        self.rejected: dict[int, int] = {}  # level -> number of the last marker found to be a list item

    def rank(self, h: _Heading) -> int:
        return -h.level - 1 if h.level < 0 else self.ranks[h.level]

    def accepts(self, h: _Heading) -> bool:
        """Is a marked paragraph a heading? Rejects numbered lists inside the body."""
        spec = h.spec
        if spec is None or spec.marker_title:
            return True  # markdown; articles, numbered right through a law and unmistakable with their space
        ok = self._in_sequence(h, spec)
        if ok and not h.pure and h.level in self.has_lines and not spec.point:
            ok = h.number == self.last.get(h.level, -1) + 1  # only exactly the next heading
        if ok and not h.pure:
            ok = self.rejected.get(h.level) != h.number - 1
        if not ok:
            self.rejected[h.level] = h.number
        return ok

    def _in_sequence(self, h: _Heading, spec: Level) -> bool:
        """Numbering must continue, or start at 1, under the current parent."""
        last = self.last.get(h.level)
        if last is None:
            return h.pure or h.number == 1
        if h.number == last + 1 or (h.number == 1 and (spec.point or h.pure)):
            return True
        return h.pure and last < h.number <= last + 2

    def open(self, h: _Heading) -> None:
        rank = self.rank(h)
        while self.stack and self.rank(self.stack[-1]) >= rank:
            self.stack.pop()
        self.stack.append(h)
        deeper = {lv for lv in self.last if lv >= 0 and self.ranks[lv] > rank}
        self.last = {lv: n for lv, n in self.last.items() if lv not in deeper}
        self.last[h.level] = h.number
        self.rejected = {lv: n for lv, n in self.rejected.items() if lv >= 0 and self.ranks[lv] < rank}

    def close_self_contained(self) -> None:
        if self.stack and self.stack[-1].self_contained:
            self.stack.pop()

    def path(self) -> tuple[str, ...]:
        return tuple(h.title for h in self.stack)


def _structural_heading(line: str, level: int | None) -> _Heading | None:
    """A heading the file format marks (Word heading style, <h2>): ranked like a markdown heading.

    A "heading" too long to be one (a whole paragraph styled Heading 1) stays body text,
    since heading lines hold no body and its text would be lost from the chunks.
    """
    if not level or len(line) > PURE_HEADING_MAX_CHARS:
        return None
    return _Heading(-min(max(level, 1), _MD_LEVELS), 0, line, pure=True)


def split_sections(text: str, markdown: bool = False, structure: dict[int, int] | None = None) -> list[_Section]:
    """Group paragraphs under their heading paths; heading lines themselves hold no body.

    `structure` maps the offset of a line to the heading level its file gave it;
    other lines are recognised by their markers (一、 （一） ...) as in plain text.
    """
    spans = _paragraph_spans(text)
    structure = structure or {}
    headings = [
        _structural_heading(text[s:e], structure.get(s)) or _parse_heading(text[s:e], markdown) for s, e in spans
    ]
    outline = _Outline([h for h in headings if h is not None])
    sections: list[_Section] = []
    for span, heading in zip(spans, headings):
        accepted = heading is not None and outline.accepts(heading)
        if accepted:
            outline.open(heading)
            if heading.pure:
                continue
        path = outline.path()
        if not sections or sections[-1].path != path:
            sections.append(_Section(path))
        sections[-1].spans.append(span)
        if accepted:
            outline.close_self_contained()
    return sections


def table_sections(sections: list[_Section], tables: list[tuple[int, int, str]]) -> list[_Section]:
    """Each table's rows (and caption) a section of their own, the caption appended to the heading path.

    So a table is never packed with the paragraph before it, and a question about one
    of its cells finds a passage that says which table (and section) it belongs to.
    """
    if not tables:
        return sections
    out: list[_Section] = []
    keys: list[object] = []
    for section in sections:
        for span in section.spans:
            table = next((t for t in tables if t[0] <= span[0] < t[1]), None)
            path = section.path
            if table and table[2] and table[2] not in path:
                path = (*path, table[2])
            key = (path, table[0] if table else None)
            if not keys or keys[-1] != key:
                out.append(_Section(path))
                keys.append(key)
            out[-1].spans.append(span)
    return out


# --- cutting sections to size ------------------------------------------------------------


def _trim(text: str, start: int, end: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [(start, end)] if end > start else []


def _hard_split(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """A sentence longer than max_chars: cut after commas, and at max_chars where there are none."""
    clauses: list[tuple[int, int]] = []
    pos = start
    for match in re.finditer(r"[，,、：:]", text[start:end]):
        stop = start + match.end()
        clauses.extend(_trim(text, pos, stop))
        pos = stop
    clauses.extend(_trim(text, pos, end))
    units: list[tuple[int, int]] = []
    for s, e in clauses:
        parts = math.ceil((e - s) / max_chars)
        size = math.ceil((e - s) / parts)
        for p in range(s, e, size):
            units.extend(_trim(text, p, min(p + size, e)))
    return units


def _units(text: str, spans: list[tuple[int, int]], max_chars: int) -> tuple[list[tuple[int, int]], set[int]]:
    """Sentence units of a section, none longer than max_chars, and the starts of paragraphs."""
    units: list[tuple[int, int]] = []
    para_starts = set()
    for start, end in spans:
        para_starts.add(start)
        for s, e in split_sentences(text, start, end):
            units.extend([(s, e)] if e - s <= max_chars else _hard_split(text, s, e, max_chars))
    return units, para_starts


def _pack(units: list[tuple[int, int]], target: int, max_chars: int, min_chars: int, para_starts: set[int]):
    """Consecutive units into pieces of about the same size near target, none over max_chars."""
    if not units:
        return []
    total = units[-1][1] - units[0][0]
    if total <= max_chars:
        return [(units[0][0], units[-1][1])]
    count = max(math.ceil(total / max_chars), round(total / target), 1)
    ideal = total / count
    pieces: list[tuple[int, int]] = []
    cur_start, cur_end = units[0]
    for start, end in units[1:]:
        size, grown = cur_end - cur_start, end - cur_start
        close = (
            grown > max_chars
            or size >= ideal
            or (size >= min_chars and grown - ideal > ideal - size)
            or (start in para_starts and size >= 0.8 * ideal)
        )
        if close:
            pieces.append((cur_start, cur_end))
            cur_start = start
        cur_end = end
    pieces.append((cur_start, cur_end))
    if len(pieces) > 1 and pieces[-1][1] - pieces[-1][0] < min_chars and pieces[-1][1] - pieces[-2][0] <= max_chars:
        pieces[-2:] = [(pieces[-2][0], pieces[-1][1])]
    return pieces


@dataclass
class _Piece:
    path: tuple[str, ...]
    start: int
    end: int
    weight: int = 0  # length of the largest piece merged in; its path labels the chunk

    def __post_init__(self) -> None:
        self.weight = self.weight or self.end - self.start


def _merge_tiny(pieces: list[_Piece], max_chars: int, min_chars: int) -> list[_Piece]:
    """A fragment under min_chars joins the chunk before it (or else after it) when the result fits.

    The merged chunk keeps the heading path of whichever part holds most of its text.
    """
    merged: list[_Piece] = []
    for piece in pieces:
        last = merged[-1] if merged else None
        fits = last is not None and piece.end - last.start <= max_chars
        if fits and (piece.end - piece.start < min_chars or last.end - last.start < min_chars):
            if piece.weight > last.weight:
                last.path, last.weight = piece.path, piece.weight
            last.end = piece.end
        else:
            merged.append(piece)
    return merged


def chunk_document(doc: Document, target_chars: int = 320, max_chars: int = 480, min_chars: int = 40) -> list[Chunk]:
    """Heading-aware chunks of `doc`; `doc.text[c.start:c.end] == c.text` for every chunk.

    Where the document knows its pages (PDF), a chunk's page is the page its first character is on.
    """
    if not 0 <= min_chars <= target_chars <= max_chars or max_chars < 1:
        raise ValueError(
            f"need 0 <= min_chars <= target_chars <= max_chars, got {min_chars}, {target_chars}, {max_chars}"
        )
    text = doc.text
    markdown = doc.source_path.lower().endswith((".md", ".markdown"))
    pages = list(getattr(doc, "pages", None) or [])
    pieces = []
    sections = split_sections(text, markdown, dict(getattr(doc, "headings", None) or []))
    for section in table_sections(sections, list(getattr(doc, "tables", None) or [])):
        units, para_starts = _units(text, section.spans, max_chars)
        pieces.extend(
            _Piece(section.path, s, e) for s, e in _pack(units, target_chars, max_chars, min_chars, para_starts)
        )
    return [
        Chunk(
            chunk_id=f"{doc.doc_id}#{ordinal}",
            doc_id=doc.doc_id,
            title=doc.title,
            heading_path=list(piece.path),
            text=text[piece.start : piece.end],
            start=piece.start,
            end=piece.end,
            ordinal=ordinal,
            page=bisect_right(pages, piece.start) if pages else None,
        )
        for ordinal, piece in enumerate(_merge_tiny(pieces, max_chars, min_chars))
    ]
