"""What the search page shows around the results: counts, facet links, the year timeline, sort links.

All of it is server-rendered HTML (the timeline is an inline SVG whose bars are links), so it reads
without JavaScript and loads nothing from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from markupsafe import Markup, escape

from indexer.models import SearchResponse
from search_app.params import DOC_TYPE_LABELS
from search_app.views import type_label

SORT_LABELS = {"relevance": "相关度", "newest": "最新在前", "oldest": "最早在前"}
BAR_W, GAP, CHART_H, LABEL_H = 10, 2, 60, 14
MAX_DOC_FACETS = 12


@dataclass
class FacetLink:
    label: str
    count: int
    url: str
    active: bool = False


def _url(args: dict, **changes) -> str:
    merged = {k: v for k, v in {**args, **changes}.items() if v not in (None, "", [], ())}
    merged.pop("page", None)
    return url_for("pages.search", **merged)


def facet_links(response: SearchResponse, args: dict) -> dict[str, list[FacetLink]]:
    """Each facet value as a link that narrows the current search to it (first page)."""
    f = response.facets or {}
    years = [
        FacetLink(str(v["value"]), v["count"], _url(args, year_from=v["value"], year_to=v["value"]))
        for v in f.get("year", [])
        if v["value"]
    ]
    types = [
        FacetLink(type_label(v["value"]), v["count"], _url(args, type=[v["value"]]), v["value"] in args.get("type", []))
        for v in f.get("type", [])
    ]
    docs = [
        FacetLink(d["title"] + (f"（{d['year']}）" if d.get("year") else ""), d["count"], _url(args, doc=[d["value"]]))
        for d in f.get("document", [])[:MAX_DOC_FACETS]
    ]
    return {"year": years, "type": types, "document": docs}


def sort_links(args: dict, current: str) -> list[tuple[str, str, bool]]:
    return [(label, _url(args, sort=None if s == "relevance" else s), s == current) for s, label in SORT_LABELS.items()]


def document_groups(documents: list[dict]) -> list[tuple[str, list[dict]]]:
    """The document filter's choices: grouped by type (the vocabulary's order), newest first in each group."""
    groups: dict[str, list[dict]] = {}
    for d in documents:
        meta = d.get("meta") or {}
        entry = {"doc_id": d["doc_id"], "title": d.get("title") or d["doc_id"], "year": meta.get("year")}
        groups.setdefault(str(meta.get("type") or "other"), []).append(entry)
    order = [t for t in DOC_TYPE_LABELS if t in groups] + sorted(set(groups) - set(DOC_TYPE_LABELS))
    for group in groups.values():
        group.sort(key=lambda e: (-(int(e["year"]) if str(e["year"] or "").isdigit() else 0), e["title"]))
    return [(type_label(t), groups[t]) for t in order]


def doc_filter_url(args: dict, doc_id: str) -> str:
    """All matching passages of one document (grouping off)."""
    return _url(args, doc=[doc_id], group=None)


def group_link(args: dict, grouped: bool) -> str:
    return _url(args, group=None if grouped else 1)


def timeline_svg(response: SearchResponse, args: dict) -> Markup | None:
    """Hits per year as bars (each a link to that year); for a phrase the first and last year it occurs."""
    t = response.timeline or {}
    years = t.get("years") or []
    if not years:
        return None
    top = max(y["count"] for y in years) or 1
    width = len(years) * (BAR_W + GAP)
    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {max(width, 60)} {CHART_H + LABEL_H}" '
        f'width="{max(width, 60)}" height="{CHART_H + LABEL_H}" aria-labelledby="timeline-title">',
        f'<title id="timeline-title">{escape(_caption(t))}</title>',
    ]
    edges = {t.get("phrase_first_year"), t.get("phrase_last_year")} - {None}
    for i, y in enumerate(years):
        x = i * (BAR_W + GAP)
        cls = "bar edge" if y["year"] in edges else "bar"
        h = 0 if not y["count"] else max(2, round(CHART_H * y["count"] / top))
        url = _url(args, year_from=y["year"], year_to=y["year"])
        parts.append(
            f'<a href="{escape(url)}" class="bar-link"><rect class="{cls}" x="{x}" y="{CHART_H - h}" '
            f'width="{BAR_W}" height="{h}"><title>{y["year"]}年：{y["count"]} 段</title></rect>'
            f'<rect class="hit-area" x="{x}" y="0" width="{BAR_W}" height="{CHART_H}" fill="transparent"/></a>'
        )
    for label_year in _label_years(years):
        last = label_year == years[-1]["year"] and len(years) > 1
        x, anchor = (max(width, 60), "end") if last else (0, "start")
        parts.append(
            f'<text x="{x}" y="{CHART_H + LABEL_H - 2}" text-anchor="{anchor}" class="axis">{label_year}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _label_years(years: list[dict]) -> list[int]:
    first, last = years[0]["year"], years[-1]["year"]
    return [first] if first == last else [first, last]


def _caption(t: dict) -> str:
    text = f"按年份分布：{t.get('first_year')}–{t.get('last_year')} 年"
    if t.get("phrase_first_year"):
        text += f"；该词语最早出现于 {t['phrase_first_year']} 年，最近一次 {t['phrase_last_year']} 年"
    return text


def caption(response: SearchResponse) -> str:
    return _caption(response.timeline or {}) if (response.timeline or {}).get("years") else ""
