"""OCR of page images with Debian's Tesseract (chi_sim + chi_tra + eng), pages in parallel.

The `tesseract` program is called once per page (its TSV output gives words
with line numbers, positions and confidences), as many at a time as there are
cores, each limited to one thread: Tesseract's own threading gains little on
small pages and would fight the other pages for the cores. Words are rejoined
into lines here so that Chinese gets no spaces between characters (Tesseract
puts one between every CJK "word") while Latin words keep theirs.
Chinese pages are read with the Chinese models alone: with `eng` loaded beside
them Tesseract replaces short Chinese words it is unsure of (a quoted phrase, a
word before a comma) by Latin look-alikes ("深挖洞、广积粮" -> "RIS, CR"); a page
that comes out mostly non-Chinese is read again with the other languages first.
Missing Tesseract or language data is not an error of the file: its pages are
skipped with a note and the caller keeps whatever text it has.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

from indexer.formats.lines import CJK, clean_line, glue

DEFAULT_LANGS = "chi_sim+chi_tra+eng"
INDENT_CHARS = 1.5  # a line starting this many character heights right of the page's left edge is indented
CJK_MODELS = ("chi_", "jpn", "kor")  # Tesseract language names of CJK scripts (chi_sim, chi_tra_vert ...)
LATIN_PAGE = 0.3  # a page whose first reading has a smaller share of CJK characters is read again (see passes)
SPLIT_GAP = 0.8  # lines whose centres are closer than this many character heights are pieces of one line
# (the tightest printed line spacing is about 1.2 character heights from centre to centre)
ONE_LINE = 2.0  # ... and together no taller than this many (punctuation boxes reach 1.7; two lines 2.2 or more)
INK_SHARE = 0.08  # a character-wide strip darker than this holds a glyph (a speckled blank strip stays under 0.01)
REACH_PERCENTILE_FROM = 20  # lines in a column; below that its widest line gives the right margin
TEXT_PX = 31  # ink height of body text Tesseract's Chinese models read best (12 pt at 200 dpi; see shrink_large_text)
LARGE_TEXT = 1.3  # a page whose text is this many times TEXT_PX or more is scaled down to it first
SAME_LINE = 0.8  # a line read again replaces the first reading when they are at least this similar (difflib ratio)
PAGE_TIMEOUT_S = 600  # one page; a hung tesseract must not hold the batch (a 300 dpi page took >120 s on 2 busy cores)
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？", "(": "（", ")": "）"}
_HALF_PUNCT = re.compile(rf"(?<=[{CJK}])[,;:!?)]|[(](?=[{CJK}])|[,;:!?](?=[{CJK}])")
_STRAY_DOT = re.compile(rf"(?<=[，、；：。])[.·](?=[{CJK}])")  # a speck read as "." after a comma: "同志们，.北京"
_NUMERAL = "一二三四五六七八九〇○"
# the 〇 of a year written in Chinese numerals read as a quote or a letter: 一九八" 年, 二o二四年
_ZERO = re.compile(
    rf"(?<=[{_NUMERAL}]{{2}})[\"'oO0°](?=[{_NUMERAL}年])|(?<=[{_NUMERAL}])[\"'oO0°](?=[{_NUMERAL}]{{2}})"
)
_converters: dict[str, object] = {}
_convert_lock = threading.Lock()


@dataclass(frozen=True)
class OcrOptions:
    """How pages are read: from Settings at the entry point (ocr_langs, ocr_dpi, ocr_workers)."""

    langs: str = DEFAULT_LANGS
    dpi: int = 300
    workers: int = 0  # 0 = one per core
    progress: bool = False
    enabled: bool = True
    label: str = ""  # the file, for the progress line


def options_from(settings, progress: bool = False) -> OcrOptions:
    """The OCR part of `indexer.config.Settings` (ocr, ocr_langs, ocr_dpi, ocr_workers)."""
    return OcrOptions(
        langs=settings.ocr_langs,
        dpi=settings.ocr_dpi,
        workers=settings.ocr_workers,
        progress=progress,
        enabled=settings.ocr,
    )


@dataclass
class OcrLine:
    text: str
    indented: bool = False
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, right, bottom in the pixels Tesseract read
    block: int = 0  # Tesseract's block number: lines of one block read one after the other
    height: int = 0  # the median height of the line's words, about a character's height
    band: tuple[int, int] = (0, 0)  # the median top and bottom of its words: where its characters sit
    reach: float = 0.0  # how far right the line reaches in its column, 1.0 = to the right margin (see with_reach)


@dataclass
class OcrPage:
    lines: list[OcrLine] = field(default_factory=list)
    confidence: float = 0.0  # mean word confidence 0..100, weighted by characters
    error: str = ""  # why the page could not be read ("" when it was)


def missing_reason(langs: str = DEFAULT_LANGS) -> str:
    """Why OCR cannot run here ("" when it can): no tesseract program, or a language's data not installed."""
    return _missing(langs)


@lru_cache(maxsize=8)
def _missing(langs: str) -> str:
    if shutil.which("tesseract") is None:
        return "Tesseract is not installed (make ocr, or apt-get install tesseract-ocr tesseract-ocr-chi-sim)"
    try:
        listed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"Tesseract does not run ({exc})"
    have = set(listed.split())
    lacking = [lang for lang in langs.split("+") if lang not in have]
    if lacking:
        return f"Tesseract language data missing: {', '.join(lacking)} (apt-get install tesseract-ocr-chi-sim ...)"
    return ""


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _run_tesseract(png: bytes, langs: str, dpi: int, psm: int = 3) -> str:
    """Tesseract's TSV of one image; psm 3 = a page, found blocks, columns and lines; 7 = one line."""
    command = ["tesseract", "stdin", "stdout", "-l", langs, "--dpi", str(dpi), "--psm", str(psm), "tsv"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    done = subprocess.run(command, input=png, capture_output=True, timeout=PAGE_TIMEOUT_S, env=env)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or "tesseract failed")
    return done.stdout.decode("utf-8", "replace")


def _words(tsv: str) -> dict[tuple[int, int, int], list[tuple[int, int, int, int, float, str]]]:
    """Tesseract's word rows by (block, paragraph, line): (left, top, width, height, confidence, text)."""
    rows: dict[tuple[int, int, int], list[tuple[int, int, int, int, float, str]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < 12 or cols[0] != "5" or not cols[11].strip():
            continue
        key = (int(cols[2]), int(cols[3]), int(cols[4]))
        box = (int(cols[6]), int(cols[7]), int(cols[8]), int(cols[9]))
        rows.setdefault(key, []).append((*box, float(cols[10]), cols[11].strip()))
    return rows


def parse_tsv(tsv: str) -> OcrPage:
    """Tesseract's TSV (one row per word) to clean lines, an indent flag per line and a confidence."""
    rows = _words(tsv)
    if not rows:
        return OcrPage()
    left_edge = min(min(w[0] for w in words) for words in rows.values())
    page = OcrPage()
    weight = total = 0.0
    for key in sorted(rows):
        words = rows[key]
        text = ""
        for *_, conf, word in words:
            text = glue(text, word) if text else word
            weight += len(word)
            total += max(conf, 0.0) * len(word)
        height = sorted(w[3] for w in words)[len(words) // 2]
        box = (min(w[0] for w in words), min(w[1] for w in words), max(w[0] + w[2] for w in words))
        box = (*box, max(w[1] + w[3] for w in words))
        band = (sorted(w[1] for w in words)[len(words) // 2], sorted(w[1] + w[3] for w in words)[len(words) // 2])
        cleaned = clean_line(text)
        if cleaned:
            page.lines.append(OcrLine(cleaned, False, box, key[0], height, band))
    char = _char_height(page.lines)  # the page's, not the line's: a line of small punctuation is no measure
    for line in page.lines:
        line.indented = line.box[0] - left_edge > INDENT_CHARS * char
    page.confidence = round(total / weight, 1) if weight else 0.0
    return page


def _char_height(lines: list[OcrLine]) -> int:
    heights = sorted(line.height for line in lines if line.height)
    return heights[len(heights) // 2] if heights else 0


def _one_line(a: OcrLine, b: OcrLine, char: int) -> bool:
    """Two lines whose centres are closer than SPLIT_GAP characters, one above the other or less than a
    character apart side by side, are pieces of one printed line."""
    centre_gap = abs((a.box[1] + a.box[3]) - (b.box[1] + b.box[3])) / 2
    side_gap = max(a.box[0], b.box[0]) - min(a.box[2], b.box[2])
    return centre_gap < SPLIT_GAP * char and side_gap < char


def _pieces(lines: list[OcrLine]) -> list[list[int]]:
    """Groups of lines that are pieces of one line layout analysis cut apart (_one_line): a lone "告。" ending
    a paragraph comes out as "-一" above "户o", the character's halves; the first character of "贡献。" as a
    block of its own beside "献。"."""
    char = _char_height(lines)
    if len(lines) < 2 or not char:
        return []
    group = list(range(len(lines)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _one_line(lines[i], lines[j], char):
                group[root(j)] = root(i)
    found: dict[int, list[int]] = {}
    for i in range(len(lines)):
        found.setdefault(root(i), []).append(i)
    return [members for members in found.values() if len(members) > 1]


def mend_split_lines(image, page: OcrPage, read_line: Callable[[object], OcrPage]) -> OcrPage:
    """Pieces of one line (see _pieces) read again together, as one line (`read_line` of the crop), in the
    place of the first piece."""
    runs = _pieces(page.lines)
    if not runs:
        return page
    char = _char_height(page.lines)
    left_edge = min(line.box[0] for line in page.lines)
    replaced: dict[int, OcrLine | None] = {}
    for run in runs:
        boxes = [page.lines[i].box for i in run]
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        if union[3] - union[1] > ONE_LINE * char:  # two printed lines that Tesseract mixed up: not one line
            continue
        box = (union[0] - char // 2, union[1] - char // 3, union[2] + char // 2, union[3] + char // 3)
        crop = image.crop((max(box[0], 0), max(box[1], 0), min(box[2], image.width), min(box[3], image.height)))
        text = clean_line("".join(line.text for line in read_line(crop).lines))
        if not text:
            continue
        first = page.lines[run[0]]
        indented = union[0] - left_edge > INDENT_CHARS * char
        replaced.update({i: None for i in run[1:]})
        replaced[run[0]] = OcrLine(text, indented, union, first.block, char, (union[1], union[3]))
    page.lines = [replaced.get(i, line) for i, line in enumerate(page.lines) if replaced.get(i, line) is not None]
    return page


def _convert(kind: str, text: str) -> str:
    import opencc

    with _convert_lock:
        if kind not in _converters:
            _converters[kind] = opencc.OpenCC(kind)
        return _converters[kind].convert(text)


def _script_of(lines: list[OcrLine]) -> str:
    """The conversion to make: "t2s" when simplified-only characters are at least as many as traditional-only
    ones, else "s2t"."""
    chars = set(re.findall(f"[{CJK}]", "".join(line.text for line in lines)))
    if not chars:
        return ""
    joined = "".join(sorted(chars))
    traditional = sum(a != b for a, b in zip(joined, _convert("t2s", joined)))
    simplified = sum(a != b for a, b in zip(joined, _convert("s2t", joined)))
    return "t2s" if simplified >= traditional else "s2t"


def _to_script(text: str, kind: str) -> str:
    """Text in one script. To traditional only the simplified-only characters change, one by one:
    OpenCC's phrase rules would also turn a traditional 周刊/了解 into 週刊/瞭解."""
    if kind == "t2s":
        converted = _convert("t2s", text)
    else:
        converted = "".join(
            _convert("s2t", ch) if _convert("t2s", ch) == ch and re.match(f"[{CJK}]", ch) else ch for ch in text
        )
    return converted if len(converted) == len(text) else text


def unify_script(lines: list[OcrLine], kind: str = "") -> list[OcrLine]:
    """One script (`kind`, else the lines' majority) and full-width punctuation between Chinese characters.

    With chi_sim and chi_tra both loaded Tesseract picks a script word by word, so a
    simplified page comes out with 們/來 here and there and a "," where "，" was printed.
    """
    kind = kind or _script_of(lines)
    if not kind:
        return lines
    out = []
    for line in lines:
        text = _to_script(line.text, kind)
        text = _STRAY_DOT.sub("", _HALF_PUNCT.sub(lambda m: _FULL_WIDTH[m.group()], _ZERO.sub("〇", text)))
        out.append(dataclasses.replace(line, text=text))
    return out


def unify_pages(pages: list[OcrPage]) -> list[OcrPage]:
    """The whole document in its majority script: a short last page alone may look traditional."""
    kind = _script_of([line for page in pages for line in page.lines])
    for page in pages:
        page.lines = unify_script(page.lines, kind)
    return pages


def passes(langs: str) -> list[str]:
    """The language lists a page is read with: the CJK models alone first, then (for a page that turns out
    mostly Latin) the others first; a list of one kind is read once."""
    parts = langs.split("+")
    cjk = [lang for lang in parts if lang.startswith(CJK_MODELS)]
    rest = [lang for lang in parts if lang not in cjk]
    if not cjk or not rest:
        return [langs]
    return ["+".join(cjk), "+".join(rest + cjk)]


def cjk_share(page: OcrPage) -> float:
    text = re.sub(r"\s", "", "".join(line.text for line in page.lines))
    return len(re.findall(f"[{CJK}]", text)) / len(text) if text else 0.0


def _missed_ink(pixels, line: OcrLine, char: int, others: list[OcrLine]) -> bool:
    """Ink in the line's band just right of its last word or left of its first that no line's words cover: a
    character layout analysis left out of the line (seen with the last one of a full line, "…革命事")."""
    top, bottom = line.band
    left, _, right, _ = line.box
    for x0, x1 in ((right + 2, right + char), (left - char, left - 2)):
        x0, x1 = max(x0, 0), min(x1, pixels.shape[1])
        if x1 - x0 < char // 2 or bottom - top < char // 2:
            continue
        covered = any(o.box[0] < x1 and x0 < o.box[2] and o.box[1] < bottom and top < o.box[3] for o in others)
        if not covered and (pixels[top:bottom, x0:x1] < 128).mean() > INK_SHARE:
            return True
    return False


def mend_cut_ends(image, page: OcrPage, read_line: Callable[[object], OcrPage]) -> OcrPage:
    """Lines that left a character out (see _missed_ink) read again as one line with a margin each side; the
    new reading is taken when it is longer and otherwise much the same."""
    import numpy

    char = _char_height(page.lines)
    if not char:
        return page
    pixels = numpy.asarray(image)
    for i, line in enumerate(page.lines):
        if not _missed_ink(pixels, line, char, page.lines[:i] + page.lines[i + 1 :]):
            continue
        (left, _, right, _), (top, bottom) = line.box, line.band
        margin = char // 3
        box = (max(left - char, 0), max(top - margin, 0), min(right + char, image.width), bottom + margin)
        text = clean_line("".join(o.text for o in read_line(image.crop(box)).lines))
        if len(text) > len(line.text) and SequenceMatcher(None, line.text, text).ratio() >= SAME_LINE:
            page.lines[i] = dataclasses.replace(line, text=text)
    return page


def with_reach(lines: list[OcrLine]) -> list[OcrLine]:
    """Each line's reach: where it ends between its column's left and right edges (of a column of 20 lines or
    more the 10th and 90th percentiles of the lines', so that one long outlier does not count). Measured in
    pixels, it tells a wrapped line from a paragraph's last one better than a count of characters that OCR may
    have missed or read half-width."""
    out = []
    for line in lines:
        column = [o.box for o in lines if o.box[0] < line.box[2] and line.box[0] < o.box[2]]
        lefts, rights = sorted(b[0] for b in column), sorted(b[2] for b in column)
        few = len(column) < REACH_PERCENTILE_FROM  # then the widest line is the full width, as for a text layer
        left, right = lefts[0], rights[-1]
        if not few:
            left, right = lefts[len(lefts) // 10], rights[(len(rights) - 1) * 9 // 10]
        reach = (line.box[2] - left) / (right - left) if right > left else 0.0
        out.append(dataclasses.replace(line, reach=round(min(max(reach, 0.0), 1.0), 3)))
    return out


def text_height(grey) -> int:
    """The median ink height of the page's text lines (0 when it cannot tell): runs of rows with ink, found in
    8 vertical strips, each narrow enough that the lines of a page turned by a degree stay apart."""
    import numpy

    ink = numpy.asarray(grey) < 128
    step = max(ink.shape[1] // 8, 1)
    runs: list[int] = []
    for x0 in range(0, ink.shape[1], step):
        rows = ink[:, x0 : x0 + step].sum(axis=1) > max(2, step // 100)  # specks stay under 1% of a strip's row
        edges = numpy.diff(numpy.concatenate(([0], rows.astype(numpy.int8), [0])))
        starts, ends = numpy.flatnonzero(edges == 1), numpy.flatnonzero(edges == -1)
        runs += [int(end - start) for start, end in zip(starts, ends) if end - start >= 4]
    return sorted(runs)[len(runs) // 2] if len(runs) >= 5 else 0


def shrink_large_text(grey, dpi: int) -> tuple[object, int]:
    """The page scaled down so that its body text is about TEXT_PX high, and the dpi that makes it; a page of
    smaller text as it is. Measured on a 300 dpi scan of a 12 pt report page (text 46 px high): read as it is,
    1.07% of its characters were wrong; scaled to 2/3, 0.5%, and it reads faster (on four such pages, area
    averaging 0.9% on average, Lanczos 1.35%: a page now and then loses a line to layout analysis either way)."""
    height = text_height(grey)
    if height < LARGE_TEXT * TEXT_PX:
        return grey, dpi
    scale = TEXT_PX / height
    size = (max(int(grey.width * scale), 1), max(int(grey.height * scale), 1))
    from PIL import Image

    return grey.resize(size, Image.BOX), max(int(dpi * scale), 1)  # area average: measured better than Lanczos


def _line_langs(langs: str, page: OcrPage) -> str:
    """The models a line is read again with: the page's script alone, where the page has one. Given one line,
    Tesseract with chi_sim and chi_tra may read a simplified line in traditional characters, and misread some."""
    models = langs.split("+")
    kind = _script_of(page.lines)
    own = {"t2s": "chi_sim", "s2t": "chi_tra"}.get(kind, "")
    return own if own in models and cjk_share(page) >= LATIN_PAGE else langs


def read_image(image, options: OcrOptions) -> OcrPage:
    """One page image to text; a failure comes back as the page's `error`, never raised."""
    reason = missing_reason(options.langs) if options.enabled else "OCR is switched off"
    if reason:
        return OcrPage(error=reason)
    try:
        grey, dpi = shrink_large_text(image.convert("L"), options.dpi)
        png = _png(grey)
        langs, *others = passes(options.langs)
        page = parse_tsv(_run_tesseract(png, langs, dpi))
        if others and page.lines and cjk_share(page) < LATIN_PAGE:
            langs = others[0]
            page = parse_tsv(_run_tesseract(png, langs, dpi))
        line_langs = _line_langs(langs, page)
        read_line = lambda crop: parse_tsv(_run_tesseract(_png(crop), line_langs, dpi, 7))  # noqa: E731
        page = mend_cut_ends(grey, mend_split_lines(grey, page, read_line), read_line)
        page.lines = with_reach(page.lines)
        return page
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        return OcrPage(error=f"OCR failed ({type(exc).__name__}: {exc})")


def workers(options: OcrOptions) -> int:
    return options.workers or max(1, len(os.sched_getaffinity(0)))


def read_pages(count: int, render: Callable[[int], object], options: OcrOptions, label: str = "") -> list[OcrPage]:
    """OCR pages 0..count-1, `render(i)` giving page i's image; in parallel, with progress on stderr."""
    reason = missing_reason(options.langs) if options.enabled else "OCR is switched off"
    if reason:
        return [OcrPage(error=reason) for _ in range(count)]

    def one(i: int) -> OcrPage:
        try:
            image = render(i)
        except Exception as exc:  # a page that does not render loses itself only
            return OcrPage(error=f"page cannot be rendered ({type(exc).__name__}: {exc})")
        return read_image(image, options)

    results: list[OcrPage] = []
    with ThreadPoolExecutor(max_workers=min(workers(options), max(count, 1))) as pool:
        for done, page in enumerate(pool.map(one, range(count)), 1):
            results.append(page)
            if options.progress:
                _progress(options.label or label, done, count)
    return unify_pages(results)


def _progress(label: str, done: int, count: int) -> None:
    end = "\n" if done == count else ""
    print(f"\rOCR {label}: {done}/{count} pages", end=end, file=sys.stderr, flush=True)


def confidences(pages: Iterable[tuple[int, OcrPage]]) -> dict[str, float]:
    """{"page number": confidence} for the pages that were read, as stored in a document's metadata."""
    return {str(n): p.confidence for n, p in pages if not p.error}
