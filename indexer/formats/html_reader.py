"""HTML: the main content of a web page, its headings, title and publication date.

A saved policy page is mostly site furniture (menus, banners, share buttons,
"related articles", a copyright footer) around one article. That furniture would
otherwise turn up in search results, so only the main content is kept: the
<article>/<main> element if the page has one, else the block holding most
paragraph text. Parsed with lxml (already required by python-docx).
"""

from __future__ import annotations

import re

from indexer.formats import Block, Extracted, FormatError, assemble_tables
from indexer.formats.lines import CJK
from indexer.formats.textcodec import decode_bytes, looks_binary, strict_decode
from indexer.metadata import normalise_date

NOISE_TAGS = (
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe",
    "svg", "button", "select", "textarea", "input", "object", "embed", "canvas", "map", "dialog",
)  # fmt: skip
NOISE_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar")
# class/id words of furniture inside an article: share bars, breadcrumbs, "related", pagers, print links
_NOISE_CLASS = re.compile(
    r"(?:^|[\s_-])(nav|navbar|menu|breadcrumbs?|crumbs?|sidebar|footer|header|share|sharing|social|related"
    r"|comments?|pager|pagination|toolbar|skip|advert|banner|copyright)(?:$|[\s_-])",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    "p div section article main li ul ol dl dt dd blockquote pre table thead tbody tfoot tr caption "
    "center figure figcaption address hr body h1 h2 h3 h4 h5 h6 td th".split()
)
_PARAGRAPH_TAGS = frozenset("p pre blockquote h2 h3 h4 h5 h6".split())
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.IGNORECASE)
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030"}
_TITLE_METAS = ("articletitle", "og:title", "dc.title", "twitter:title")
_DATE_METAS = (
    "pubdate", "publishdate", "publish_date", "article:published_time", "dc.date.issued", "dc.date",
    "date", "firstpublishedtime",
)  # fmt: skip
_SITE_SEPARATOR = re.compile(r"\s*(?:_|\||｜|\s[-–—]\s)\s*")
_CELL_SEPARATOR = " | "


def decode_html(raw: bytes) -> tuple[str, str]:
    """The declared charset when it decodes cleanly (gb2312/gbk read as their superset GB18030), else detected."""
    declared = _CHARSET.search(raw[:4096])
    if declared and not raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        name = declared.group(1).decode("ascii", "replace").lower()
        name = _CHARSET_ALIASES.get(name, name)
        text = strict_decode(raw, name)
        if text is not None:
            return text, name
    try:
        return decode_bytes(raw)
    except UnicodeError as exc:
        raise FormatError(f"undecodable text: {exc}") from exc


def _text(el) -> str:
    return el.text_content() if el is not None else ""


def _squash(text: str) -> str:
    """HTML whitespace: a source line break between Chinese characters is nothing, any other run one space."""
    text = re.sub(rf"(?<=[{CJK}，。、；：！？）》])[ \t\r\f]*\n\s*(?=[{CJK}（《])", "", text)
    return re.sub(r"[ \t\r\n\f]+", " ", text)


def _metas(root) -> dict[str, str]:
    out: dict[str, str] = {}
    for meta in root.iter("meta"):
        name = (meta.get("name") or meta.get("property") or meta.get("itemprop") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if name and content:
            out.setdefault(name, content)
    return out


def _drop(el) -> None:
    """Remove an element but keep its tail text, which belongs to the parent."""
    if el.getparent() is not None:
        el.drop_tree()


def _strip_noise(root) -> None:
    for el in list(root.iter(*NOISE_TAGS)):
        _drop(el)
    for el in list(root.iter()):
        if isinstance(el.tag, str) and (el.get("role") or "").lower() in NOISE_ROLES:
            _drop(el)


def _strip_noise_classes(main) -> None:
    """Drop furniture named by class or id, unless it holds most of the content (a "with-sidebar" wrapper)."""
    total = len(main.text_content())
    for el in list(main.iterdescendants()):
        if not isinstance(el.tag, str):
            continue
        words = f"{el.get('class') or ''} {el.get('id') or ''}"
        if _NOISE_CLASS.search(words) and len(el.text_content()) < total / 2:
            _drop(el)


def _own_text_length(el) -> int:
    """Characters directly in `el`, not in links or child elements."""
    own = len((el.text or "").strip()) + sum(len((c.tail or "").strip()) for c in el)
    return 0 if el.tag == "a" else own


def _densest_block(body):
    """The element holding most paragraph text: paragraphs count for their parent, loose text for itself."""
    scores: dict = {}
    for el in body.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in _PARAGRAPH_TAGS:
            links = sum(len(a.text_content()) for a in el.iter("a"))
            parent = el.getparent()
            if parent is not None:
                scores[parent] = scores.get(parent, 0) + max(0, len(el.text_content().strip()) - links)
        elif el.tag not in ("a", "span", "b", "strong", "em", "i", "font", "u"):
            scores[el] = scores.get(el, 0) + _own_text_length(el)
    best = max(scores.items(), key=lambda kv: kv[1], default=(body, 0))[0]
    return best if scores.get(best, 0) > 0 else body


def _main(root):
    body = root.find("body")
    if body is None:
        body = root
    candidates = list(root.iter("article", "main")) + root.xpath("//*[@role='main']")
    candidates = [el for el in candidates if len(el.text_content().strip()) >= 20]
    if candidates:
        return max(candidates, key=lambda el: len(el.text_content().strip()))
    return _densest_block(body)


class _Walker:
    """Depth-first walk that cuts the content into blocks at block-level elements and <br>."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.tables: list = []  # <table> elements met, outermost numbering: rows of a nested table join its own

    def flush(self) -> None:
        text = _squash("".join(self.inline))
        if text.strip():
            self.blocks.append(Block(text))
        self.inline = []

    def walk(self, el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _HEADINGS:
            self.flush()
            self.blocks.append(Block(_squash(el.text_content()), heading=_HEADINGS[tag]))
        elif tag == "tr":
            self.flush()
            cells = [_squash(c.text_content()).strip() for c in el if c.tag in ("td", "th")]
            table = next((t for t in el.iterancestors("table")), None)
            if table is not None and table not in self.tables:
                self.tables.append(table)
            number = self.tables.index(table) + 1 if table is not None else 0
            caption = _squash(table.find("caption").text_content()).strip() if _has_caption(table) else ""
            self.blocks.append(Block(_CELL_SEPARATOR.join(c for c in cells if c), table=number, caption=caption))
        elif tag == "caption":
            self.flush()  # read as the rows' caption, not as a paragraph of its own
        elif tag == "pre":
            self.flush()
            self.blocks.extend(Block(line) for line in el.text_content().split("\n"))
        elif tag == "br":
            self.flush()
        elif tag:
            block = tag in _BLOCK_TAGS
            if block:
                self.flush()
            self.inline.append(el.text or "")
            for child in el:
                self.walk(child)
            if block:
                self.flush()
        if el.tail:
            self.inline.append(el.tail)


def _has_caption(table) -> bool:
    return table is not None and table.find("caption") is not None and bool(table.find("caption").text_content())


def _site_trimmed(title: str) -> str:
    """The longest part of a page title ("国务院关于……的通知_政策_中国政府网"): the document's own title."""
    parts = [p for p in _SITE_SEPARATOR.split(title) if p.strip()]
    return max(parts, key=len).strip() if parts else ""


def _first_h1(el) -> str:
    return next((" ".join(h.text_content().split()) for h in el.iter("h1") if h.text_content().strip()), "")


def _first_time(elements: list) -> str:
    """The first <time> of the content: an article's header usually dates it."""
    return next((t.get("datetime") or t.text_content() for el in elements for t in el.iter("time")), "")


def read(raw: bytes, max_bytes: int) -> Extracted:
    if looks_binary(raw):
        raise FormatError("binary file (NUL or control bytes), not HTML")
    text, encoding = decode_html(raw)
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)  # lxml refuses a str that declares its encoding
    import lxml.html
    from lxml.etree import ParserError

    try:
        root = lxml.html.document_fromstring(text)
    except (ParserError, ValueError) as exc:
        raise FormatError(f"unreadable HTML ({exc})") from exc
    metas = _metas(root)
    title_el = root.find(".//title")
    declared_main = list(root.iter("article", "main"))
    title = next((metas[k] for k in _TITLE_METAS if metas.get(k)), "")
    title = title or next((h for el in declared_main if (h := _first_h1(el))), "")
    title = title or _site_trimmed(" ".join(_text(title_el).split()))
    title = title or _first_h1(root)
    date = next((metas[k] for k in _DATE_METAS if metas.get(k)), "") or _first_time(declared_main)
    _strip_noise(root)
    main = _main(root)
    _strip_noise_classes(main)
    walker = _Walker()
    walker.walk(main)
    walker.flush()
    body, headings, tables = assemble_tables(walker.blocks)
    meta: dict = {}
    date = date or _first_time([main])
    if date.strip():
        meta["date"] = normalise_date(date)
    url = next((link.get("href") for link in root.iter("link") if (link.get("rel") or "").lower() == "canonical"), "")
    source = url or metas.get("og:url") or metas.get("contentsource") or ""
    if source.strip():
        meta["source"] = source.strip()
    return Extracted(
        text=body, headings=headings, tables=tables, title=" ".join(title.split()), meta=meta, encoding=encoding
    )
