"""Numbers and dates written one way for matching: 二〇二〇 -> 2020, 百分之五 -> 5%, 翻两番 -> 4倍.

Policy texts write the same figure in several ways (一九八〇年, 1980年, 二0一0年, spaced
1 9 9 8, 1.3万亿元 next to 13000亿元), and questions use yet another. Tokenising index and
query through `fold_numbers` makes them meet in BM25. It only rewrites forms that are
numbers beyond doubt: digit runs that are years, 百分之…, multiples (…倍, 翻…番), and Chinese
numbers with 百/千/万/亿 (or 十 before a measure word); ordinals (第十四届), nicknames
(十四五, 十九大, 一五时期) and words such as 一带一路 or 千万 stay as they are. Amounts with
万/亿 get one canonical unit (亿 from 1e8, else 万), so 1.3万亿 == 13000亿 == 一万三千亿.
Works on folded text (half-width digits); the output is for tokens only, offsets change.
"""

from __future__ import annotations

import re

_DIGITS = {ch: i for i, ch in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "两": 2}
_SMALL_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_DIGIT = "〇○零一二两三四五六七八九"
_MEASURE = "年月日世元人个倍项吨斤亩户名所家次天岁座台辆架艘条公里米克度件万亿多余"

_SPACED_RE = re.compile(r"(?<![0-9.])[0-9.]{1,2}(?: [0-9.%]{1,2})+(?![0-9.])")  # 1 9 9 3, 8 .7
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_YEAR_RE = re.compile(rf"(?<![{_CN_DIGIT}0-9])[{_CN_DIGIT}0-9]{{4}}(?=年)|[{_CN_DIGIT}0-9]*[〇○][{_CN_DIGIT}0-9]*")
_PERCENT_RE = re.compile(rf"百分之([{_CN_DIGIT}十百千]+(?:点[{_CN_DIGIT}]+)?)")
_FAN_RE = re.compile(r"翻([一两二三四]?)番")
_TIMES_RE = re.compile(rf"([{_CN_DIGIT}十]+(?:点[{_CN_DIGIT}]+)?)倍")
_CN_NUMBER_RE = re.compile(rf"(?<!第)([{_CN_DIGIT[3:]}十][{_CN_DIGIT}十百千万亿]*)")
_AMOUNT_RE = re.compile(r"(\d+(?:\.\d+)?) *(万亿|亿|万)")
_UNIT_VALUE = {"万": 1e4, "亿": 1e8, "万亿": 1e12}


def cn_to_number(text: str) -> float | None:
    """Value of a Chinese number (二万八千, 一千三百八十七亿四千万, 三十六点九); None if not one."""
    whole, _, frac = text.partition("点")
    if frac and not all(ch in _DIGITS for ch in frac):
        return None
    total, section, number = 0, 0, 0
    prev = ""
    for ch in whole:
        if ch in _DIGITS:
            if prev in _DIGITS and prev not in "〇○零":  # 十四五, 一五: a name, not a number
                return None
            number = _DIGITS[ch]
        elif ch in _SMALL_UNITS:
            section += (number or 1) * _SMALL_UNITS[ch]
            number = 0
        elif ch == "万":
            total += (section + number) * 10_000
            section = number = 0
        elif ch == "亿":
            total = (total + section + number) * 100_000_000
            section = number = 0
        else:
            return None
        prev = ch
    value = float(total + section + number)
    if frac:
        value += float("0." + "".join(str(_DIGITS[ch]) for ch in frac))
    return value


def cn_int(text: str) -> int | None:
    """A whole number in Chinese numerals, by place value (十四, 二十一, 一百零五) or digit by digit (二〇二四,
    一〇); None if `text` is not one. The one reader of Chinese numerals for headings, dates and names."""
    if len(text) > 1 and all(ch in _DIGITS for ch in text):
        return int("".join(str(_DIGITS[ch]) for ch in text))
    value = cn_to_number(text) if text else None
    return int(value) if value is not None and value.is_integer() else None


def cn_name(n: int) -> str:
    """1..99 as Chinese numerals are written in names and ordinals: 十七, 二十, 二十一."""
    tens, ones = divmod(n, 10)
    digits = "〇一二三四五六七八九"
    head = "" if tens == 0 else ("十" if tens == 1 else digits[tens] + "十")
    return head + (digits[ones] if ones or not head else "")


def _plain(value: float) -> str:
    """12.0 -> '12', 4.925 -> '4.925' (no exponent, no trailing zeros)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def canonical_amount(value: float) -> str:
    """One spelling per amount: 亿 from 1e8 up, 万 from 1e4 up, the plain number below."""
    if value >= 1e8:
        return _plain(value / 1e8) + "亿"
    if value >= 1e4:
        return _plain(value / 1e4) + "万"
    return _plain(value)


def _digit_run(match: re.Match) -> str:
    run = match.group(0)
    year_follows = match.string[match.end() : match.end() + 1] == "年"
    if not any(ch in _DIGITS for ch in run) or (len(run) < 4 and not year_follows and "〇" not in run):
        return run
    return "".join(str(_DIGITS[ch]) if ch in _DIGITS else ch for ch in run)


def _cn_number(match: re.Match) -> str:
    run = match.group(1)
    after = match.string[match.end() : match.end() + 1]
    big = any(ch in "百千万亿" for ch in run)
    if not big and not ("十" in run and after and after in _MEASURE):  # 十九大, 三个代表 stay
        return run
    value = cn_to_number(run)
    return run if value is None else canonical_amount(value)


def fold_numbers(text: str) -> str:
    """Rewrite the number forms in folded text into one spelling (see the module doc)."""
    text = _SPACED_RE.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _THOUSANDS_RE.sub("", text)
    text = _YEAR_RE.sub(_digit_run, text)
    text = _PERCENT_RE.sub(lambda m: _sub_value(m.group(1), "%", m.group(0)), text)
    text = _FAN_RE.sub(lambda m: f"{2 ** (_DIGITS.get(m.group(1), 1))}倍", text)
    text = _TIMES_RE.sub(lambda m: _sub_value(m.group(1), "倍", m.group(0)), text)
    text = _CN_NUMBER_RE.sub(_cn_number, text)
    return _AMOUNT_RE.sub(lambda m: canonical_amount(float(m.group(1)) * _UNIT_VALUE[m.group(2)]), text)


def _sub_value(number: str, suffix: str, original: str) -> str:
    value = cn_to_number(number)
    return original if value is None else _plain(value) + suffix
