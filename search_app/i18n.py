"""An English switch for the interface labels (`?lang=en`, remembered in a cookie; `?lang=zh` switches back).

Only the page's own words are translated; documents, passages and titles stay as written. Templates call
`t("中文")`: the English label when the reader chose English and one is listed here, else the Chinese.
"""

from __future__ import annotations

from flask import Flask, request

COOKIE = "lang"
LABELS = {
    "政策文献检索": "Policy document search",
    "讲话稿 · 政府工作报告 · 语义搜索": "speeches · government work reports · semantic search",
    "本服务完全在本机运行，不向外部发送任何数据。": "Runs entirely on this machine; nothing is sent elsewhere.",
    "搜索": "Search",
    "搜索内容": "Search for",
    "检索模式": "Mode",
    "混合": "Hybrid",
    "语义": "Semantic",
    "关键词": "Keyword",
    "每页": "Per page",
    "筛选": "Filters",
    "（已启用）": " (on)",
    "年份": "Year",
    "类型": "Type",
    "文档": "Document",
    "全部文档": "All documents",
    "检索语法": "Query syntax",
    "检索条件：": "Understood as: ",
    "也按公文用语检索：": "Also searched in the documents' wording: ",
    "英文问题也按中文词检索：": "The English question was also searched as the Chinese terms: ",
    "优先这些年份的文件：": "Documents of these years first: ",
    "排序：": "Sort: ",
    "相关度": "Relevance",
    "最新在前": "Newest first",
    "最早在前": "Oldest first",
    "每篇文档只显示一段": "One passage per document",
    "显示全部段落": "All passages",
    "显示得分与编号": "Show scores and ids",
    "隐藏得分与编号": "Hide scores and ids",
    "导出本页 CSV": "Export this page (CSV)",
    "查看原文": "Open document",
    "相似段落": "Similar passages",
    "段落链接": "Link",
    "最相关的一句：": "Best sentence: ",
    "相关度较低": "weak match",
    "上一页": "Previous",
    "下一页": "Next",
    "没有找到与问题密切相关的段落；以下是最接近的内容，仅供参考。": (
        "No closely matching passage was found; the nearest ones are listed below for reference."
    ),
    "请求参数有误：": "Bad request: ",
    "用时": "took",
    "毫秒": "ms",
    "模式：": "Mode: ",
    "段，来自": "passages in",
    "篇文档": "documents",
    "共": "",
}


def lang() -> str:
    """"en" or "zh": the URL's choice first, then the cookie."""
    chosen = request.args.get("lang") or request.cookies.get(COOKIE) or "zh"
    return "en" if chosen == "en" else "zh"


def t(text: str) -> str:
    return LABELS.get(text, text) if lang() == "en" else text


def switch_url() -> str:
    """The current page in the other language."""
    args = request.args.to_dict(flat=False)
    args["lang"] = ["zh" if lang() == "en" else "en"]
    from urllib.parse import urlencode

    return request.path + "?" + urlencode(args, doseq=True)


def register(app: Flask) -> None:
    @app.context_processor
    def _labels() -> dict:
        return {"t": t, "ui_lang": lang(), "lang_switch_url": switch_url()}

    @app.after_request
    def _remember(response):
        chosen = request.args.get("lang")
        if chosen in ("en", "zh"):
            response.set_cookie(COOKIE, chosen, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response
