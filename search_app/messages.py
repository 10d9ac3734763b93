"""Chinese wording of the reasons a request is refused, for the page and the API's `message` field.

The checks raise English reasons (logs, scripts and the API's `error` keep them); readers of the Chinese
page get the same reason in Chinese. A reason without a rule here is shown with a Chinese lead-in.
"""

from __future__ import annotations

import re

FIELD_NAMES = {
    "k": "结果数 k",
    "size": "每页条数",
    "page": "页码",
    "offset": "偏移量 offset",
    "year_from": "起始年份",
    "year_to": "截止年份",
    "mode": "检索模式",
    "sort": "排序方式",
    "group": "分组参数",
}

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^query is empty"), "查询内容不能为空。"),
    (re.compile(r"^query is (\d+) characters long; the limit is (\d+)"), "查询太长：{0} 个字，最多 {1} 个字。"),
    (re.compile(r"^(\w+) must be between (\d+) and (\d+), got (-?\d+)"), "{f0}必须在 {1} 到 {2} 之间（收到 {3}）。"),
    (re.compile(r"^(\w+) must be an integer between (\d+) and (\d+)"), "{f0}必须是 {1} 到 {2} 之间的整数。"),
    (re.compile(r"^(\w+) must be an integer year"), "{f0}必须是整数年份，例如 2018。"),
    (re.compile(r"^(\w+) must be a year between (\d+) and (\d+)"), "{f0}必须在 {1} 到 {2} 年之间。"),
    (re.compile(r"^year_from \((\d+)\) is after year_to \((\d+)\)"), "起始年份（{0}）晚于截止年份（{1}）。"),
    (re.compile(r"^mode must be one of"), "检索模式只能是：混合（hybrid）、语义（dense）或关键词（lexical）。"),
    (re.compile(r"^sort must be one of"), "排序方式只能是：相关度、最新在前（newest）或最早在前（oldest）。"),
    (re.compile(r"^(\w+) must be 1 or 0"), "{f0}只能是 1 或 0。"),
    (re.compile(r"^page (\d+) is past the last page"), "第 {0} 页超出了范围：请回到前面的页。"),
    (re.compile(r"^unknown document type '?([^']*)'?"), "没有“{0}”这种文档类型。"),
    (re.compile(r"^no document with id '?([^']*)'?"), "索引中没有这篇文档（{0}）。"),
    (re.compile(r"^unknown collection '?([^']*)'?"), "没有“{0}”这个文件集，或无权查看。"),
    (re.compile(r"^too many (\w+) filters: (\d+) \(at most (\d+)\)"), "筛选条件太多：{1} 个（最多 {2} 个）。"),
    (re.compile(r"^document id is (\d+) characters long"), "文档编号太长。"),
]


def zh(reason: str) -> str:
    """The Chinese wording of an English refusal reason (the reason itself, led in, when unknown)."""
    text = reason.strip()
    if re.search(r"[\u4e00-\u9fff]", text) and not re.search(r"[A-Za-z]{4,}", text):
        return text  # already Chinese
    for pattern, template in _RULES:
        m = pattern.search(text)
        if m:
            groups = m.groups()
            names = {f"f{i}": FIELD_NAMES.get(g, g) for i, g in enumerate(groups)}
            return template.format(*groups, **names)
    return f"请求有误：{text}"
