"""Where Chinese (and Latin) sentences end: the one definition for loading, chunking and retrieval.

Pure text helpers with no dependencies, so formats, chunking and the search engine can all use
them without importing one another.
"""

from __future__ import annotations

import re

SENTENCE_END = "。！？；!?;"  # a sentence ends after these
CLAUSE_END = SENTENCE_END + "：:"  # ... and an introduction ("……如下：") after these
LINE_END = CLAUSE_END + "…"  # a line ending so is the end of its paragraph, not a wrapped line
CLOSING = "”’」』）)》"  # closing quotes and brackets stay with the sentence they close

_SENTENCE_RE = re.compile(f"[^{re.escape(SENTENCE_END)}\\n]*(?:[{re.escape(SENTENCE_END)}]+[{CLOSING}]*|\\n|$)")


def ends_sentence(text: str, ends: str = LINE_END) -> bool:
    """True when `text` (closing quotes aside) ends with one of `ends`."""
    core = text.rstrip(CLOSING) or text
    return bool(core) and core[-1] in ends


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) within text[start:end], whitespace trimmed, closing quotes kept.

    A line break also ends a sentence (a heading or list item has no full stop).
    """
    end = len(text) if end is None else end
    spans = []
    pos = start
    while pos < end:
        match = _SENTENCE_RE.match(text, pos, end)
        stop = match.end() if match and match.end() > pos else end
        s, e = pos, stop
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
        pos = stop
    return spans
