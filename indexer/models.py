"""The data model shared by indexer, search app and batch CLI.

One definition of a document, a chunk and a search result, so that what the
indexer writes is exactly what the API and the CLI return.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Document:
    """A normalised source document; chunk offsets point into `text`."""

    doc_id: str
    title: str
    text: str
    source_path: str = ""
    content_hash: str = ""
    meta: dict = field(default_factory=dict)  # date, year, source, type ...
    # Structure only the source format knows; used when chunking, not stored in the index.
    headings: list[tuple[int, int]] = field(default_factory=list)  # (offset of a heading line, level 1..6)
    pages: list[int] = field(default_factory=list)  # offset in `text` where page n+1 starts (PDF)
    tables: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, caption): rows chunked apart
    notes: list[str] = field(default_factory=list)  # what was skipped inside the file (a page OCR could not read)


@dataclass
class Chunk:
    """A passage of a document under one heading path."""

    chunk_id: str  # f"{doc_id}#{ordinal}"
    doc_id: str
    title: str
    heading_path: list[str]
    text: str
    start: int  # offsets into Document.text, end exclusive
    end: int
    ordinal: int = 0
    page: int | None = None

    def embedding_text(self) -> str:
        """What the model sees: the heading path gives a short passage its context."""
        head = " > ".join(self.heading_path)
        return f"{self.title}\n{head}\n{self.text}" if head else f"{self.title}\n{self.text}"


@dataclass
class SearchResult:
    rank: int
    score: float
    doc_id: str
    title: str
    heading_path: list[str]
    text: str
    chunk_id: str
    start: int
    end: int
    best_sentence: str = ""
    best_sentence_start: int = 0  # offsets into `text`
    best_sentence_end: int = 0
    page: int | None = None
    meta: dict = field(default_factory=dict)
    similarity: float | None = None  # cosine to the query (dense/hybrid), what the weak-match line is drawn on
    weak: bool = False  # below the weak-match line
    more_in_doc: int = 0  # grouped results: further matching passages in the same document

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResponse:
    query: str
    took_ms: float
    mode: str
    results: list[SearchResult]
    # Research fields (indexer.facets): exact counts over the matching passages, how the query was read.
    total: int | None = None  # matching passages (see total_relation)
    total_relation: str = "eq"  # "eq": exact; "gte": at least (a plain question counted to a depth)
    documents_total: int | None = None
    facets: dict | None = None  # {"year": [{"value", "count"}], "type": [...], "document": [...]}
    timeline: dict | None = None  # {"years": [{"year", "count"}], "first_year", "last_year", "phrase_..."}
    parsed: dict | None = None  # indexer.query.ParsedQuery.to_dict()
    # What hybrid ranking added to the question's words: {"official_terms": [{"word", "terms"}],
    # "chinese_terms": [...], "preferred_years": [...]} (hybrid.HybridReader.expanded)
    expanded: dict | None = None
    weak: bool = False  # the best passage is below the weak-match line
    weak_threshold: float | None = None
    sort: str = "relevance"
    group: bool = False
    offset: int = 0

    def to_dict(self) -> dict:
        out = {
            "query": self.query,
            "took_ms": round(self.took_ms, 2),
            "mode": self.mode,
            "results": [r.to_dict() for r in self.results],
        }
        if self.total is not None:
            out.update(
                total=self.total,
                total_relation=self.total_relation,
                documents_total=self.documents_total,
                facets=self.facets,
                timeline=self.timeline,
                parsed=self.parsed,
                expanded=self.expanded,
                weak=self.weak,
                weak_threshold=self.weak_threshold,
                sort=self.sort,
                group=self.group,
                offset=self.offset,
            )
        return out
