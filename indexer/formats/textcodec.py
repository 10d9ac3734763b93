"""Decode text files whose encoding nobody declared: UTF-8, GB18030, Big5 and a detector's hint.

Real policy texts arrive as UTF-8 (with or without BOM), GB18030 and Big5 for
old traditional-character transcriptions; telling them apart needs a judgement
of which reading looks like Chinese prose, made here once for every text format.
"""

from __future__ import annotations

_COMMON_CHARS = frozenset(
    "的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會可也对對"
    "生能而子那得于於着下自之年过過发發后後作里裏用道行所然家种種事成方多经經么麼去法学學"
    "如都同现現当當没沒动動面起看定天分还還进進好小部其些主样樣理心本前开開但因只从從想实實"
)
_ALLOWED_CONTROL = {"\t", "\n", "\r", "\f", "\v", "\x1b"}


def looks_binary(raw: bytes) -> bool:
    """NUL bytes or many control bytes mean an image, archive, office file ..."""
    head = raw[:65536]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 0x20 and chr(b) not in _ALLOWED_CONTROL)
    return controls > max(2, len(head) // 100)


def plausibility(text: str) -> float:
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


def strict_decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(raw: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (BOM or not), then GB18030 / Big5, then a detector's hint."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = strict_decode(raw, "utf-16")
        if text is not None and plausibility(text) > 0.5:
            return text, "utf-16"
    text = strict_decode(raw, "utf-8-sig")
    if text is not None:
        return text, "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    candidates = [(enc, t) for enc in ("gb18030", "big5") if (t := strict_decode(raw, enc)) is not None]
    if candidates:
        # max() keeps the first of equals, so GB18030 wins ties.
        enc, text = max(candidates, key=lambda c: plausibility(c[1]))
        if plausibility(text) > 0.5:
            return text, enc
    return _decode_with_hint(raw)


def _decode_with_hint(raw: bytes) -> tuple[str, str]:
    """Last resort: ask charset-normalizer, accept only a plausible answer."""
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and best.encoding:
        text = strict_decode(raw, best.encoding)
        if text is not None and plausibility(text) > 0.5:
            return text, best.encoding
    raise UnicodeError("not UTF-8, GB18030 or Big5, and no plausible encoding detected")
