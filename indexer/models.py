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

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SearchResponse:
    query: str
    took_ms: float
    mode: str
    results: list[SearchResult]

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "took_ms": round(self.took_ms, 2),
            "mode": self.mode,
            "results": [r.to_dict() for r in self.results],
        }
