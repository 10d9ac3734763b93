"""Load source files into normalised `Document`s.

Real policy texts arrive as .txt/.md in several encodings (UTF-8 with or without
BOM, GB18030, Big5 for old traditional-character transcriptions) and with web-scrape
noise: CRLF, full-width indentation, zero-width characters, blank lines, paragraphs
cut into pieces where the source page had a link, and a licence footer; or as
.docx, .pdf and .html (read by indexer.formats) and as JSONL bulk imports.
Everything downstream (chunk offsets, hashes, snippets) refers to the normalised
text built here, so normalisation is done once, deterministically, in this module,
and every failure is a DocumentError that names the file and says why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from pathlib import Path

from indexer import formats, official
from indexer.formats import Extracted, FormatError
from indexer.formats.jsonl_reader import BadLine
from indexer.formats.jsonl_reader import parse as parse_jsonl
from indexer.formats.lines import CJK as _CJK
from indexer.formats.lines import HEADING_LIKE as _HEADING_LIKE
from indexer.formats.lines import clean_line as _clean_line
from indexer.formats.lines import glue as _glue
from indexer.formats.ocr import OcrOptions
from indexer.formats.textcodec import decode_bytes, looks_binary
from indexer.metadata import TITLE_MAX_CHARS, clean_fields, merge
from indexer.metadata import guess_type as guess_type  # re-exported: search_app refers to it here
from indexer.models import Document
from indexer.sentences import ends_sentence

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIX = ".jsonl"
SUFFIXES = TEXT_SUFFIXES + formats.SUFFIXES + (JSONL_SUFFIX,)
SIDECAR_SUFFIX = ".meta.json"
MAX_BYTES = 20 * 1024 * 1024  # Settings.max_file_mb; a policy text is at most a few MB, bigger is a mistake
# Notes kept next to documents in a folder, not documents themselves (given by name, they still load).
SKIPPED_NAMES = frozenset({"readme", "sources", "license", "licence", "changelog"})
SKIPPED_PREFIXES = ("~$", ".~lock")  # Word and LibreOffice lock files next to an open document
# In UTF-8 bytes, not characters (file names are limited to 255 bytes): an upload stored as
# <id><suffix> with its <name>.meta.json sidecar stays well inside that, even in CJK (60 characters).
DOC_ID_MAX_BYTES = 180


class DocumentError(Exception):
    """A file that could not be loaded; `reason` is meant for people."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


# --- normalisation ----------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\x0b|\x0c|\x85")
_CLOSERS = "，。、；：！？）》」』”’〕】〉,.;:!?)…"
_OPENERS = "（《「『“‘〔【〈("
# Lines that open a block of their own in Markdown or plain lists: never glued to the line before.
_BLOCK_START = re.compile(r"^([-*+>|]\s|#{1,6}\s|```|\d{1,3}[.)]\s|——)")
_LICENCE_FOOTER = re.compile(r"^(本作品(是|来自|在)|這部作品|这部作品|Public domain$)")
_FOOTER_WINDOW = 60  # non-blank lines from the end in which a licence footer may start


def _is_continuation(prev: str, nxt: str, soft_breaks: bool) -> bool:
    """Does `nxt` continue the paragraph `prev` (a break left by a link or bold run)?"""
    if nxt[0] in _CLOSERS or prev[-1] in _OPENERS:
        return True
    if not soft_breaks or ends_sentence(prev) or _BLOCK_START.match(nxt) or _BLOCK_START.match(prev):
        return False
    return not (_HEADING_LIKE.match(prev) or _HEADING_LIKE.match(nxt))


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
    """A file-name stem made safe for URLs and paths: CJK, letters, digits, - and _ only.

    One rule for long names: at most DOC_ID_MAX_BYTES UTF-8 bytes, cut at a character boundary plus a
    hash of the whole name. The rule is idempotent (safe_doc_id(safe_doc_id(s)) == safe_doc_id(s)), so
    an upload stored under its id is indexed under that same id.
    """
    stem = unicodedata.normalize("NFKC", stem)
    safe = "".join(ch if (ch.isalnum() or ch in "-_") and not ch.isspace() else "-" for ch in stem)
    safe = re.sub(r"-{2,}", "-", safe).strip("-")
    if len(safe.encode("utf-8")) > DOC_ID_MAX_BYTES:
        digest = hashlib.sha1(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        head = safe.encode("utf-8")[: DOC_ID_MAX_BYTES - len(digest) - 1].decode("utf-8", "ignore")
        safe = head.rstrip("-") + "-" + digest
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
    try:
        return clean_fields(data)
    except ValueError as exc:
        raise DocumentError(path, f"metadata file {sidecar.name}: {exc}") from exc


def _title(path: Path, text: str, layers: list[dict], from_file: str) -> str:
    """The strongest given title (flag, sidecar), the file's own, a readable file name, the first line."""
    for layer in reversed(layers):
        if layer.get("title"):
            return layer["title"]
    if from_file:
        return from_file[: TITLE_MAX_CHARS * 3]
    stem = unicodedata.normalize("NFC", path.stem).strip()
    if _looks_like_title(stem):
        return stem
    return _first_line_title(text)


def _first_line_title(text: str) -> str:
    return text.split("\n", 1)[0].strip()[:TITLE_MAX_CHARS]


# --- loading ------------------------------------------------------------------------------


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing a missing, oversized or empty file before anything parses it."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(path, f"file too large ({size / 2**20:.1f} MB; limit {max_bytes / 2**20:.0f} MB)")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(path, "file not found") from exc
    except OSError as exc:
        raise DocumentError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise DocumentError(path, "empty file")
    return raw


def _decode_text(path: Path, raw: bytes) -> tuple[str, str]:
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")) and looks_binary(raw):
        raise DocumentError(path, "binary file (NUL or control bytes), not text")
    try:
        return decode_bytes(raw)
    except UnicodeError as exc:
        raise DocumentError(path, f"undecodable text: {exc}") from exc


def _extract(path: Path, raw: bytes, max_bytes: int, ocr: OcrOptions | None = None) -> Extracted:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text, encoding = _decode_text(path, raw)
        return Extracted(text=normalise_text(text), encoding=encoding)
    if ocr is not None and ocr.progress:
        ocr = dataclasses.replace(ocr, label=path.name)
    try:
        return formats.extract(suffix, raw, max_bytes, ocr=ocr)
    except FormatError as exc:
        raise DocumentError(path, exc.reason) from exc


def _document(
    doc_id: str, title: str, text: str, source_path: str, meta: dict, extracted: Extracted | None = None
) -> Document:
    headings = _without_title(text, title, list(extracted.headings)) if extracted else []
    return Document(
        doc_id=doc_id,
        title=title,
        text=text,
        source_path=source_path,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        meta=meta,
        headings=headings,
        pages=list(extracted.pages) if extracted else [],
        tables=list(extracted.tables) if extracted else [],
        notes=list(extracted.notes) if extracted else [],
    )


def _without_title(text: str, title: str, headings: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Headings less the first one when it repeats the title and is alone at its level or above.

    A Word heading or <h1> that is the document's title is not a section: left in,
    every chunk's heading path would start with the title.
    """
    if not headings:
        return headings
    offset, level = headings[0]
    alone = all(other > level for _, other in headings[1:])
    return headings[1:] if alone and text[offset:].split("\n", 1)[0] == title else headings


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise DocumentError(
            path, f"unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}"
        )


def _overrides(path: Path, overrides: dict | None) -> dict:
    try:
        return clean_fields(overrides or {})
    except ValueError as exc:
        raise DocumentError(path, f"metadata given for this file: {exc}") from exc


def load_document(
    path: Path, overrides: dict | None = None, max_bytes: int = MAX_BYTES, ocr: OcrOptions | None = None
) -> Document:
    """Read, decode and normalise one .txt/.md/.docx/.pdf/.html file; raises DocumentError with a readable reason.

    Metadata, strongest first: `overrides` (CLI flags), the sidecar, the file's own, guesses.
    """
    path = Path(path)
    _check_suffix(path)
    if path.suffix.lower() == JSONL_SUFFIX:
        raise DocumentError(path, "a JSONL file holds many documents: load it with iter_documents")
    raw = _read_bytes(path, max_bytes)
    extracted = _extract(path, raw, max_bytes, ocr)
    if not extracted.text:
        raise DocumentError(path, "no text after normalisation (only whitespace or invisible characters)")
    fields = official.read_fields(extracted.text, extracted.title)
    written = {"date": fields["written_date"]} if fields.get("written_date") else {}
    layers = [written, extracted.meta, read_sidecar(path), _overrides(path, overrides)]
    # A converter (a scanner, print-to-PDF) often writes the file name as the title: that says nothing.
    own = extracted.title if extracted.title.casefold() != path.stem.casefold() else ""
    title = _title(path, extracted.text, layers, own or official.title_line(extracted.text, fields))
    meta = merge(title, extracted.text, layers, str(path), extracted.timestamp)
    meta.update(fields)
    if extracted.encoding:
        meta["encoding"] = extracted.encoding
    if extracted.ocr_pages:
        meta["ocr_pages"] = extracted.ocr_pages
    return _document(safe_doc_id(path.stem), title, extracted.text, str(path), meta, extracted)


def load_jsonl(
    path: Path, overrides: dict | None = None, max_bytes: int = MAX_BYTES
) -> tuple[list[Document], list[DocumentError]]:
    """One document per line; a bad line is an error of its own and the others still load.

    Flags and a sidecar fill in what a line leaves out (a common "source"), never its
    title, and do not override the line's own fields: each line is its own document.
    """
    path = Path(path)
    raw = _read_bytes(path, max_bytes)
    text, _ = _decode_text(path, raw)
    defaults = {k: v for k, v in (read_sidecar(path) | _overrides(path, overrides)).items() if k != "title"}
    docs: list[Document] = []
    errors: list[DocumentError] = []
    for item in parse_jsonl(text):
        if isinstance(item, BadLine):
            errors.append(DocumentError(path, f"line {item.line}: {item.reason}"))
            continue
        body = normalise_text(item.text)
        if not body:
            errors.append(DocumentError(path, f"line {item.line}: no text after normalisation"))
            continue
        title = item.fields.get("title") or _first_line_title(body)
        layers = [defaults, item.fields]
        meta = merge(title, body, layers, f"{path}:{item.line}")
        doc_id = safe_doc_id(item.doc_id or f"{title[:40]}-{item.line}")
        docs.append(_document(doc_id, title, body, f"{path}:{item.line}", meta))
    return docs, errors


def _is_hidden(path: Path, root: Path) -> bool:
    rel = path.relative_to(root).parts
    return any(part.startswith(".") for part in rel)


def _wanted(path: Path, root: Path) -> bool:
    name = path.name.lower()
    return (
        path.is_file()
        and path.suffix.lower() in SUFFIXES
        and not name.endswith(SIDECAR_SUFFIX)
        and not name.startswith(SKIPPED_PREFIXES)
        and path.stem.lower() not in SKIPPED_NAMES
        and not _is_hidden(path, root)
    )


def discover(paths: list[Path]) -> tuple[list[Path], list[DocumentError]]:
    """Files to load, in a stable order: given files as is, folders searched recursively."""
    found: list[Path] = []
    errors: list[DocumentError] = []
    for given in map(Path, paths):
        if given.is_dir():
            found.extend(
                p for p in sorted(given.rglob("*"), key=lambda p: p.relative_to(given).as_posix()) if _wanted(p, given)
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


def load_documents(
    path: Path, overrides: dict | None = None, max_bytes: int = MAX_BYTES, ocr: OcrOptions | None = None
) -> tuple[list[Document], list[DocumentError]]:
    """Every document in one file (one per line for JSONL); errors of single lines come back, not raised."""
    path = Path(path)
    if path.suffix.lower() == JSONL_SUFFIX:
        return load_jsonl(path, overrides, max_bytes)
    return [load_document(path, overrides, max_bytes, ocr)], []


def iter_documents(
    paths: list[Path], overrides: dict | None = None, max_bytes: int = MAX_BYTES, ocr: OcrOptions | None = None
) -> tuple[list[Document], list[DocumentError]]:
    """Load every file under `paths`; a bad file is reported and skipped, the rest still load.

    A file whose normalised text repeats an earlier one is reported, not loaded twice.
    doc_ids come from file names alone (JSONL: the line's id, or its title and line
    number), so they stay stable from one run to the next; two files with the same
    name in different folders share an id, which the caller must treat as a clash.
    `overrides` (title, date, year, source, type) apply to every file of the call.
    """
    files, errors = discover(paths)
    docs: list[Document] = []
    by_hash: dict[str, Document] = {}
    for path in files:
        try:
            loaded, line_errors = load_documents(path, overrides, max_bytes, ocr)
        except DocumentError as exc:
            errors.append(exc)
            continue
        errors.extend(line_errors)
        for doc in loaded:
            if doc.content_hash in by_hash:
                where = doc.source_path
                errors.append(DocumentError(where, f"same text as {by_hash[doc.content_hash].source_path}; skipped"))
                continue
            by_hash[doc.content_hash] = doc
            docs.append(doc)
    return docs, errors
