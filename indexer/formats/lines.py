"""Line-level text cleaning shared by every format: one definition of a clean line and of a join.

A wrapped line is rejoined the same way whether the break came from a web scrape,
a Word line break or a PDF's layout, so that chunk text and hashes do not depend
on where a document came from.
"""

from __future__ import annotations

import re

CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACE_RUN = re.compile(r"[^\S\n]+")
# A heading marker followed by some title text: such a line is never glued to the next.
HEADING_LIKE = re.compile(
    r"^(#{1,6}\s|第[一二三四五六七八九十百零〇\d]+[编編部章节節条條]|"
    r"[一二三四五六七八九十]+、\S|[（(][一二三四五六七八九十\d]+[）)]\S|\d{1,2}[.．、]\D)"
)


def clean_line(line: str) -> str:
    """Drop zero-width chars and edge spaces; a run of odd inner spaces (U+3000, tab ...) becomes one space.

    The inner space is kept rather than dropped: it separates "第一条" from its text
    and "李\u3000强" reads as well as "李 强".
    """
    return _SPACE_RUN.sub(_inner_space, line.translate(_ZERO_WIDTH).strip())


def _inner_space(match: re.Match) -> str:
    run = match.group()
    return run if set(run) == {" "} else " "  # ordinary spaces are the author's


def glue(prev: str, nxt: str) -> str:
    """Chinese joins without a space; wrapped Latin words and "a,\nb" keep one ("M\n2" stays "M2")."""
    a, b = prev[-1], nxt[0]
    if not (a.isascii() and b.isascii()):
        return prev + nxt
    after_word = b.isalpha() and (a.isalnum() or a in ",.;:!?")
    return prev + " " + nxt if after_word or (a in ",.;:!?" and b.isdigit()) else prev + nxt


def join_lines(lines: list[str]) -> str:
    """Clean lines glued into one paragraph; blank ones are dropped."""
    out = ""
    for line in map(clean_line, lines):
        if line:
            out = glue(out, line) if out else line
    return out
