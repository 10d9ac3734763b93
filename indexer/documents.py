"""Load source files into normalised `Document`s.

Real policy texts arrive in several encodings (UTF-8 with or without BOM, GB18030,
Big5 for old traditional-character transcriptions) and with web-scrape noise:
CRLF, full-width indentation, zero-width characters, blank lines, paragraphs cut
into pieces where the source page had a link, and a licence footer. Everything
downstream (chunk offsets, hashes, snippets) refers to the normalised text built
here, so normalisation is done once, deterministically, in this module.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from indexer.models import Document

SUFFIXES = (".txt", ".md")
SIDECAR_SUFFIX = ".meta.json"
MAX_BYTES = 50 * 1024 * 1024  # a policy text is at most a few MB; bigger is a mistake
TITLE_MAX_CHARS = 60
HEADER_LINES = 6
# Notes kept next to documents in a folder, not documents themselves (given by name, they still load).
SKIPPED_NAMES = frozenset({"readme", "sources", "license", "licence", "changelog"})
DOC_ID_MAX_CHARS = 100

# --- decoding -----------------------------------------------------------------

_COMMON_CHARS = frozenset(
    "的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會可也对對"
    "生能而子那得于於着下自之年过過发發后後作里裏用道行所然家种種事成方多经經么麼去法学學"
    "如都同现現当當没沒动動面起看定天分还還进進好小部其些主样樣理心本前开開但因只从從想实實"
)
_ALLOWED_CONTROL = {"\t", "\n", "\r", "\f", "\v", "\x1b"}


class DocumentError(Exception):
    """A file that could not be loaded; `reason` is meant for people."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _looks_binary(raw: bytes) -> bool:
    """NUL bytes or many control bytes mean an image, archive, office file ..."""
    head = raw[:65536]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 0x20 and chr(b) not in _ALLOWED_CONTROL)
    return controls > max(2, len(head) // 100)


def _plausibility(text: str) -> float:
    """How much a decoded text looks like Chinese/ASCII prose, to choose among legacy codecs.

    A Big5 file decodes without error as GB18030 too, but into private-use
    characters, kana and rare ideographs; common ideographs and CJK punctuation
    tell the right reading apart.
    """
    if not text:
        return 0.0
    good = bad = common = 0
    for ch in text:
        cp = ord(ch)
        if ch in _COMMON_CHARS:
            common += 1
        if 0x4E00 <= cp <= 0x9FFF or 0x20 <= cp < 0x7F or ch in "\n\r\t" or 0x3000 <= cp <= 0x303F:
            good += 1
        elif 0xFF00 <= cp <= 0xFFEF or 0x2000 <= cp <= 0x206F:
            good += 1
        elif 0xE000 <= cp <= 0xF8FF or cp == 0xFFFD or cp < 0x20 or 0x3040 <= cp <= 0x30FF:
            bad += 1
    return (good - 5 * bad + 3 * common) / len(text)


def _strict(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (BOM or not), then GB18030 / Big5, then a detector's hint."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = _strict(raw, "utf-16")
        if text is not None and _plausibility(text) > 0.5:
            return text, "utf-16"
    text = _strict(raw, "utf-8-sig")
    if text is not None:
        return text, "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    candidates = [(enc, t) for enc in ("gb18030", "big5") if (t := _strict(raw, enc)) is not None]
    if candidates:
        # max() keeps the first of equals, so GB18030 wins ties.
        enc, text = max(candidates, key=lambda c: _plausibility(c[1]))
        if _plausibility(text) > 0.5:
            return text, enc
    return _decode_with_hint(raw)


def _decode_with_hint(raw: bytes) -> tuple[str, str]:
    """Last resort: ask charset-normalizer, accept only a plausible answer."""
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and best.encoding:
        text = _strict(raw, best.encoding)
        if text is not None and _plausibility(text) > 0.5:
            return text, best.encoding
    raise UnicodeError("not UTF-8, GB18030 or Big5, and no plausible encoding detected")


# --- normalisation ----------------------------------------------------------------

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACE_RUN = re.compile(r"[^\S\n]+")
_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\x0b|\x0c|\x85")
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SENTENCE_END = "。！？；：!?;:…"
_CLOSERS = "，。、；：！？）》」』”’〕】〉,.;:!?)…"
_OPENERS = "（《「『“‘〔【〈("
_TRAILING_QUOTES = "”’」』）)》"
# A heading marker followed by some title text: such a line is never glued to the next.
_HEADING_LIKE = re.compile(
    r"^(#{1,6}\s|第[一二三四五六七八九十百零〇\d]+[编編部章节節条條]|"
    r"[一二三四五六七八九十]+、\S|[（(][一二三四五六七八九十\d]+[）)]\S|\d{1,2}[.．、]\D)"
)
# Lines that open a block of their own in Markdown or plain lists: never glued to the line before.
_BLOCK_START = re.compile(r"^([-*+>|]\s|#{1,6}\s|```|\d{1,3}[.)]\s|——)")
_LICENCE_FOOTER = re.compile(r"^(本作品(是|来自|在)|這部作品|这部作品|Public domain$)")
_FOOTER_WINDOW = 60  # non-blank lines from the end in which a licence footer may start


def _clean_line(line: str) -> str:
    """Drop zero-width chars and edge spaces; a run of odd inner spaces (U+3000, tab ...) becomes one space.

    The inner space is kept rather than dropped: it separates "第一条" from its text
    and "李\u3000强" reads as well as "李 强".
    """
    return _SPACE_RUN.sub(_inner_space, line.translate(_ZERO_WIDTH).strip())


def _inner_space(match: re.Match) -> str:
    run = match.group()
    return run if set(run) == {" "} else " "  # ordinary spaces are the author's


def _ends_sentence(line: str) -> bool:
    core = line.rstrip(_TRAILING_QUOTES) or line
    return core[-1] in _SENTENCE_END


def _is_continuation(prev: str, nxt: str, soft_breaks: bool) -> bool:
    """Does `nxt` continue the paragraph `prev` (a break left by a link or bold run)?"""
    if nxt[0] in _CLOSERS or prev[-1] in _OPENERS:
        return True
    if not soft_breaks or _ends_sentence(prev) or _BLOCK_START.match(nxt) or _BLOCK_START.match(prev):
        return False
    return not (_HEADING_LIKE.match(prev) or _HEADING_LIKE.match(nxt))


def _glue(prev: str, nxt: str) -> str:
    """Chinese joins without a space; wrapped Latin words and "a,\nb" keep one ("M\n2" stays "M2")."""
    a, b = prev[-1], nxt[0]
    if not (a.isascii() and b.isascii()):
        return prev + nxt
    after_word = b.isalpha() and (a.isalnum() or a in ",.;:!?")
    return prev + " " + nxt if after_word or (a in ",.;:!?" and b.isdigit()) else prev + nxt


def _paragraphs(text: str) -> list[str]:
    """Split into paragraphs: blank lines always separate; single breaks join when they are soft.

    Where a file separates paragraphs by blank lines (most web scrapes), a single
    line break inside a block that does not follow a sentence end is a leftover of
    a link or bold run ("……制定\\n“十三五”规划\\n、全面……") and is removed. Files that
    use one line per paragraph keep every line break except before closing punctuation.
    """
    lines = []
    for raw_line in _NEWLINES.sub("\n", text).split("\n"):
        cleaned = _clean_line(raw_line)
        if not cleaned and raw_line.strip():
            continue  # only zero-width chars: layout debris inside a paragraph, not a blank line
        lines.append(cleaned)
    blocks: list[list[str]] = [[]]
    lines = _drop_licence_footer(lines)
    for line in lines:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    blocks = [b for b in blocks if b]
    # Blank lines are the paragraph convention when they outnumber the single breaks left
    # unexplained by punctuation (a break before "，" or after "《" is a fragment either way).
    unexplained = sum(not _is_continuation(a, b, False) for block in blocks for a, b in zip(block, block[1:]))
    soft_breaks = len(blocks) > 1 and len(blocks) - 1 >= unexplained
    paragraphs: list[str] = []
    for block in blocks:
        current = block[0]
        for line in block[1:]:
            if _is_continuation(current, line, soft_breaks):
                current = _glue(current, line)
            else:
                paragraphs.append(current)
                current = line
        paragraphs.append(current)
    return paragraphs


def _drop_licence_footer(lines: list[str]) -> list[str]:
    """Cut the Wikisource public-domain notice that scraped texts end with; it is not content.

    Done on raw lines, before paragraphs are rebuilt, because the notice is itself
    cut into link fragments that would skew the choice of paragraph convention.
    """
    filled = [i for i, line in enumerate(lines) if line]
    for i in filled[-_FOOTER_WINDOW:]:
        if i > filled[0] and _LICENCE_FOOTER.match(lines[i]):
            return lines[:i]
    return lines


def normalise_text(text: str) -> str:
    """One paragraph per line, joined by "\\n"; no blank lines, no edge spaces, no zero-width chars."""
    return "\n".join(_paragraphs(text))


# --- identity and metadata ----------------------------------------------------------


def safe_doc_id(stem: str) -> str:
    """A file-name stem made safe for URLs and paths: CJK, letters, digits, - and _ only."""
    stem = unicodedata.normalize("NFKC", stem)
    safe = "".join(ch if (ch.isalnum() or ch in "-_") and not ch.isspace() else "-" for ch in stem)
    safe = re.sub(r"-{2,}", "-", safe).strip("-")
    if len(safe) > DOC_ID_MAX_CHARS:
        safe = safe[:DOC_ID_MAX_CHARS].rstrip("-") + "-" + hashlib.sha1(stem.encode()).hexdigest()[:8]
    if not safe:
        safe = "doc-" + hashlib.sha1(stem.encode()).hexdigest()[:10]
    return safe


def _looks_like_title(stem: str) -> bool:
    """A readable name ("2024年政府工作报告") rather than an id ("000_025b12c513c7c695")."""
    if len(re.findall(f"[{_CJK}]", stem)) >= 2:
        return True
    if any(re.search(r"\d", run) for run in re.findall(r"[0-9a-fA-F]{8,}", stem)):
        return False  # a hash or a long number
    return len(re.findall(r"[A-Za-z]", stem)) >= 3


def guess_type(title: str) -> str:
    """Document kind from its title; a resolution *on* a report is a resolution."""
    if re.search("决议|決議", title):
        return "resolution"
    if re.search("报告|報告", title):
        return "report"
    if re.search("讲话|講話|发言|發言|致辞|致辭", title):
        return "speech"
    return "other"


def guess_year(title: str) -> int | None:
    match = re.search(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", title)
    return int(match.group(1)) if match else None


def _header(text: str) -> list[str]:
    """The short lines a document opens with (title block, "——在……上的报告", "（2022年10月16日）")."""
    lines = text.split("\n")[:HEADER_LINES]
    return [line for line in lines if len(line) <= TITLE_MAX_CHARS]


def _header_year(text: str) -> int | None:
    for line in _header(text):
        match = re.search(r"(?<!\d)((?:19|20)\d\d)年\d{1,2}月", line)
        if match:
            return int(match.group(1))
    return None


def _guess_meta(title: str, text: str, sidecar: dict) -> dict:
    """type and year: the sidecar's, else from the title, else from the document's header lines."""
    kind = sidecar.get("type") or guess_type(title)
    if kind == "other":
        kind = next((k for line in _header(text) if (k := guess_type(line)) != "other"), "other")
    year = sidecar.get("year") or guess_year(title) or _header_year(text)
    meta: dict = {"type": kind}
    if year:
        meta["year"] = year
    return meta


def _sidecar_path(path: Path) -> Path | None:
    for candidate in (path.with_suffix(SIDECAR_SUFFIX), path.with_name(path.name + SIDECAR_SUFFIX)):
        if candidate.is_file():
            return candidate
    return None


def read_sidecar(path: Path) -> dict:
    """Optional `<stem>.meta.json` (title, date, year, source, type); {} when absent."""
    sidecar = _sidecar_path(path)
    if sidecar is None:
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        raise DocumentError(path, f"unreadable metadata file {sidecar.name}: {exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(path, f"metadata file {sidecar.name} must hold a JSON object")
    meta = {k: data[k] for k in ("title", "date", "year", "source", "type") if data.get(k) not in (None, "")}
    wrong = [k for k in ("title", "date", "source", "type") if k in meta and not isinstance(meta[k], str)]
    if wrong:
        raise DocumentError(path, f"metadata file {sidecar.name}: {', '.join(wrong)} must be text")
    if "year" in meta:
        try:
            meta["year"] = int(meta["year"])
        except (TypeError, ValueError) as exc:
            raise DocumentError(path, f"metadata file {sidecar.name}: year {data['year']!r} is not a number") from exc
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in meta.items()}


def _title(path: Path, text: str, sidecar: dict) -> str:
    if isinstance(sidecar.get("title"), str) and sidecar["title"]:
        return sidecar["title"]
    stem = unicodedata.normalize("NFC", path.stem).strip()
    if _looks_like_title(stem):
        return stem
    return text.split("\n", 1)[0].strip()[:TITLE_MAX_CHARS]


# --- loading ------------------------------------------------------------------------------


@dataclass
class _Raw:
    text: str
    encoding: str


def _read(path: Path) -> _Raw:
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(path, f"unsupported file type {path.suffix or '(none)'!r}; expected .txt or .md")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DocumentError(path, f"file too large ({size} bytes; limit {MAX_BYTES})")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(path, "file not found") from exc
    except OSError as exc:
        raise DocumentError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise DocumentError(path, "empty file")
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")) and _looks_binary(raw):
        raise DocumentError(path, "binary file (NUL or control bytes), not text")
    try:
        text, encoding = decode_bytes(raw)
    except UnicodeError as exc:
        raise DocumentError(path, f"undecodable text: {exc}") from exc
    return _Raw(text, encoding)


def load_document(path: Path) -> Document:
    """Read, decode and normalise one .txt/.md file; raises DocumentError with a readable reason."""
    path = Path(path)
    raw = _read(path)
    text = normalise_text(raw.text)
    if not text:
        raise DocumentError(path, "no text after normalisation (only whitespace or invisible characters)")
    sidecar = read_sidecar(path)
    title = _title(path, text, sidecar)
    meta = _guess_meta(title, text, sidecar)
    meta["source"] = sidecar.get("source") or str(path)
    if sidecar.get("date"):
        meta["date"] = sidecar["date"]
    meta["encoding"] = raw.encoding
    return Document(
        doc_id=safe_doc_id(path.stem),
        title=title,
        text=text,
        source_path=str(path),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        meta=meta,
    )


def _is_hidden(path: Path, root: Path) -> bool:
    rel = path.relative_to(root).parts
    return any(part.startswith(".") for part in rel)


def discover(paths: list[Path]) -> tuple[list[Path], list[DocumentError]]:
    """Files to load, in a stable order: given files as is, folders searched recursively."""
    found: list[Path] = []
    errors: list[DocumentError] = []
    for given in map(Path, paths):
        if given.is_dir():
            found.extend(
                p
                for p in sorted(given.rglob("*"), key=lambda p: p.relative_to(given).as_posix())
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not p.name.lower().endswith(SIDECAR_SUFFIX)
                and p.stem.lower() not in SKIPPED_NAMES
                and not _is_hidden(p, given)
            )
        elif given.exists():
            found.append(given)
        else:
            errors.append(DocumentError(given, "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, errors


def iter_documents(paths: list[Path]) -> tuple[list[Document], list[DocumentError]]:
    """Load every file under `paths`; a bad file is reported and skipped, the rest still load.

    A file whose normalised text repeats an earlier one is reported, not loaded twice.
    doc_ids come from file names alone, so they stay stable from one run to the next;
    two files with the same name in different folders share an id, which the caller
    must treat as a clash.
    """
    files, errors = discover(paths)
    docs: list[Document] = []
    by_hash: dict[str, Document] = {}
    for path in files:
        try:
            doc = load_document(path)
        except DocumentError as exc:
            errors.append(exc)
            continue
        if doc.content_hash in by_hash:
            errors.append(DocumentError(path, f"same text as {by_hash[doc.content_hash].source_path}; skipped"))
            continue
        by_hash[doc.content_hash] = doc
        docs.append(doc)
    return docs, errors
