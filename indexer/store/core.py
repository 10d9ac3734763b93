"""What every store backend shares: the content a writer hands over, content checks, the writer lock,
the per-document arrays filters read, row -> Chunk, the documents() listing and the FAISS index choice.

Backends (segments.py: FAISS + SQLite segments; milvus.py: Milvus) keep only what is theirs: how rows,
vectors and postings are stored and searched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from indexer import access
from indexer.config import Settings
from indexer.errors import IndexCorruptError, ModelMismatchError, SearchEngineError
from indexer.models import Chunk, Document

FORMAT_VERSION = 1  # the format of one version / segment's files (unchanged by segments)
# what a writer carries from one version to the next
MANIFEST_KEYS = (
    "model", "adapter", "dim", "chunker", "tokenizer", "chunking", "sentence_vectors",
    "migrated_from",  # a Milvus index copied from a FAISS one keeps saying which
)


def carried_manifest(manifest: dict) -> dict:
    """What a version written from another version's content keeps of its manifest (MANIFEST_KEYS): the model and
    adapter that made the vectors (an engine refuses an index of another), the chunker and tokenizer that made the
    rows, whether rows carry sentence vectors. Anything that rewrites an index from its own content passes this on."""
    return {k: manifest[k] for k in MANIFEST_KEYS if k in manifest}


@dataclass
class IndexContent:
    """Rows in order: documents, their chunks, one vector and one token list per chunk.

    `extras` is the extension point for row-aligned arrays stored beside the passage vectors (e.g. index-time
    sentence vectors): name -> array whose first axis is the chunk rows. Segments store each as
    `extra-<name>.npy`, and merges, deletions and `content()` carry them row by row.
    """

    documents: list[Document]
    chunks: list[Chunk]
    embeddings: np.ndarray  # (n_chunks, dim) float32, L2-normalised
    tokens: list[list[str]]  # BM25 tokens per chunk
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def check(self, dim: int | None = None) -> None:
        """Raise ValueError when the parts do not line up (the one content check of every backend)."""
        n = len(self.chunks)
        if self.embeddings.shape[0] != n or len(self.tokens) != n:
            raise ValueError("chunks, embeddings and tokens must have the same length")
        if dim is not None and n and self.embeddings.shape[1] != dim:
            raise ValueError(f"embeddings have dimension {self.embeddings.shape[1]}, manifest says {dim}")
        for name, arr in self.extras.items():
            if len(arr) != n:
                raise ValueError(f"extra array {name!r} has {len(arr)} rows, the content {n}")
        known = {d.doc_id for d in self.documents}
        if len(known) != len(self.documents):
            raise ValueError("a document id occurs twice")
        missing = {c.doc_id for c in self.chunks} - known
        if missing:
            raise ValueError(f"chunks of unknown documents: {sorted(missing)[:3]}")

    def rows_where(self, keep: Callable[[str], bool]) -> IndexContent:
        """The documents (and their rows) whose id passes `keep`, order kept."""
        rows = [i for i, c in enumerate(self.chunks) if keep(c.doc_id)]
        return IndexContent(
            documents=[d for d in self.documents if keep(d.doc_id)],
            chunks=[self.chunks[i] for i in rows],
            embeddings=self.embeddings[rows],
            tokens=[self.tokens[i] for i in rows],
            extras={k: v[rows] for k, v in self.extras.items()},
        )

    @staticmethod
    def concat(parts: list[IndexContent], dim: int) -> IndexContent:
        """Parts one after the other (rows and documents in part order)."""
        names = set().union(*(p.extras for p in parts)) if parts else set()
        return IndexContent(
            documents=[d for p in parts for d in p.documents],
            chunks=[c for p in parts for c in p.chunks],
            embeddings=np.concatenate([np.asarray(p.embeddings, dtype=np.float32).reshape(-1, dim) for p in parts])
            if parts
            else np.zeros((0, dim), dtype=np.float32),
            tokens=[t for p in parts for t in p.tokens],
            extras={k: np.concatenate([p.extras[k] for p in parts if k in p.extras]) for k in names},
        )


def empty_content(dim: int) -> IndexContent:
    return IndexContent(documents=[], chunks=[], embeddings=np.zeros((0, dim), dtype=np.float32), tokens=[])


def check_compatible(manifest: dict, model_name: str, chunker: str) -> None:
    """A writer adding to an index must embed and chunk like the index was built (ModelMismatchError else)."""
    if manifest.get("model") != model_name:
        raise ModelMismatchError(
            f"the index was built with {manifest.get('model')!r}, not {model_name!r}: "
            "use the same model or rebuild with `python -m indexer build`"
        )
    if manifest.get("chunker") != chunker:
        raise SearchEngineError(
            f"the index was chunked by chunker {manifest.get('chunker')}, this is "
            f"{chunker}: rebuild with `python -m indexer build`"
        )


# ---------------------------------------------------------------- writer lock and durable files


@contextlib.contextmanager
def file_lock(path: Path, on_enter: Callable[[], object] | None = None) -> Iterator[None]:
    """One writer at a time (an flock on `path`); `on_enter` clears a dead writer's leftovers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            if on_enter is not None:
                on_enter()
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file durably and switch it in with one rename (readers see old or new, never half)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)


# ---------------------------------------------------------------- documents and row filters


def as_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


class DocTable:
    """Per-document arrays (ids, titles, metadata, hashes) and the row -> document array, in memory.

    Every reader mixes this in and fills the attributes with `set_documents`; `allowed_rows` is then the one
    definition of what a filter keeps, on every backend.
    """

    doc_ids: list[str]
    doc_titles: list[str]
    doc_meta: list[dict]
    doc_hash: list[str]
    doc_index_of: dict[str, int]
    row_doc: np.ndarray

    def set_documents(self, ids: list[str], titles: list[str], metas: list[dict], hashes: list[str]) -> None:
        self.doc_ids, self.doc_titles, self.doc_meta, self.doc_hash = ids, titles, metas, hashes
        self.doc_index_of = {doc_id: i for i, doc_id in enumerate(ids)}
        self.doc_year = np.array([as_int(m.get("year")) for m in metas], dtype=np.int32)
        self.doc_type = [str(m.get("type") or "") for m in metas]

    @property
    def n_chunks(self) -> int:
        return len(self.row_doc)

    def documents(self) -> list[dict]:
        return document_list(self.doc_ids, self.doc_titles, self.doc_meta, self.row_doc)

    def known_documents(self) -> dict[str, tuple[str, str, dict]]:
        """doc_id -> (content hash, title, metadata): what `add` compares to skip unchanged documents."""
        return {d: (h, t, m) for d, h, t, m in zip(self.doc_ids, self.doc_hash, self.doc_titles, self.doc_meta)}

    def allowed_rows(
        self, doc_ids=(), year_from=None, year_to=None, doc_types=(), collections=None
    ) -> np.ndarray | None:
        """Boolean row mask for a filter, or None when nothing is filtered.

        `doc_ids` narrows to those documents when not empty. `collections` is the reader's scope
        (indexer.access; None = no limit): rows of documents outside it are never allowed, so dense search
        and BM25, which take this mask, rank only what the reader may see.
        """
        in_scope = access.doc_mask(self, collections)
        if not (doc_ids or year_from or year_to or doc_types) and in_scope is None:
            return None
        ok_doc = np.ones(len(self.doc_ids), dtype=bool) if in_scope is None else in_scope.copy()
        if doc_ids:
            ok_doc &= self._docs_in(doc_ids)
        if year_from:
            ok_doc &= self.doc_year >= year_from
        if year_to:
            ok_doc &= (self.doc_year <= year_to) & (self.doc_year > 0)
        if doc_types:
            ok_doc &= np.array([t in doc_types for t in self.doc_type], dtype=bool)
        return ok_doc[self.row_doc] if len(self.row_doc) else np.zeros(0, dtype=bool)


    def _docs_in(self, wanted) -> np.ndarray:
        mask = np.zeros(len(self.doc_ids), dtype=bool)
        mask[[self.doc_index_of[d] for d in wanted if d in self.doc_index_of]] = True
        return mask


def document_list(doc_ids: list[str], titles: list[str], metas: list[dict], row_doc: np.ndarray) -> list[dict]:
    """The `documents()` listing every backend returns: id, title, chunk count, metadata."""
    counts = np.bincount(row_doc, minlength=len(doc_ids)) if len(row_doc) else np.zeros(len(doc_ids), dtype=int)
    return [
        {"doc_id": d, "title": t, "chunks": int(counts[i]), "meta": m}
        for i, (d, t, m) in enumerate(zip(doc_ids, titles, metas))
    ]


def make_chunk(r, doc_ids: list[str], titles: list[str]) -> Chunk:
    """A stored passage row (SQLite row or Milvus entity, same field names) as a Chunk."""
    i = r["doc_index"]
    page = r["page"]
    return Chunk(
        chunk_id=r["chunk_id"],
        doc_id=doc_ids[i],
        title=titles[i],
        heading_path=json.loads(r["heading_path"]),
        text=r["text"],
        start=r["start"],
        end=r["end"],
        ordinal=r["ordinal"],
        page=None if page is None or page < 0 else page,
    )


def make_document(r) -> Document:
    """A stored document row (SQLite, one per document) as a Document."""
    return Document(
        doc_id=r["doc_id"],
        title=r["title"],
        text=r["text"],
        source_path=r["source_path"] or "",
        content_hash=r["content_hash"] or "",
        meta=json.loads(r["meta"]),
    )


def read_json(path: Path, what: str) -> dict:
    """A manifest-like JSON file, or IndexCorruptError saying what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexCorruptError(f"{what} has no manifest (half-written?): {path}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{what} has a damaged manifest: {exc}") from exc


# ---------------------------------------------------------------- the FAISS index choice


@dataclass(frozen=True)
class VectorIndexParams:
    """How a segment's FAISS index is built, by its rows (see Settings):

    - a segment holding the whole index: exact up to `hnsw_threshold` rows, HNSW (m, ef_construction) above;
    - a segment beside others (an add or a partial merge): exact up to `segment_threshold` rows, above it
      HNSW, built with `segment_ef_construction` up to `hnsw_threshold` rows (such mid-size segments are
      merged again later), with `ef_construction` above. A search visits every segment, so ten exact 100k
      segments cost one exact scan of 1M rows while one 1M segment is a graph walk.

    `hnsw_threshold` is also the filter size searched exactly (`exact_filter_max`), counted over the index.
    """

    # the defaults are the settings' own (one place: Settings, where each is explained)
    hnsw_threshold: int = Settings.faiss_hnsw_threshold
    hnsw_m: int = Settings.faiss_hnsw_m
    ef_construction: int = Settings.faiss_hnsw_ef_construction
    ef_search: int = Settings.faiss_hnsw_ef_search
    segment_threshold: int = Settings.faiss_segment_hnsw_threshold
    segment_ef_construction: int = Settings.faiss_segment_ef_construction
    segment_ef_search_min: int = Settings.faiss_segment_ef_search_min

    @classmethod
    def from_settings(cls, s: Settings) -> VectorIndexParams:
        return cls(
            s.faiss_hnsw_threshold,
            s.faiss_hnsw_m,
            s.faiss_hnsw_ef_construction,
            s.faiss_hnsw_ef_search,
            s.faiss_segment_hnsw_threshold,
            s.faiss_segment_ef_construction,
            s.faiss_segment_ef_search_min,
        )


def describe_faiss(n: int, params: VectorIndexParams | None = None, alone: bool = True) -> dict:
    """The index type for a segment of n vectors, as recorded in the manifest; `alone`: the segment is the
    whole index (a build, or a merge of every segment) rather than one beside others."""
    p = params or VectorIndexParams()
    threshold = p.hnsw_threshold if alone else min(p.segment_threshold, p.hnsw_threshold)
    if n <= threshold:
        return {"type": "flat"}
    return {
        "type": "hnsw",
        "m": p.hnsw_m,
        "ef_construction": p.ef_construction if n > p.hnsw_threshold else p.segment_ef_construction,
        "ef_search": p.ef_search,
        "exact_filter_max": p.hnsw_threshold,
        "ef_search_min": p.segment_ef_search_min,
    }


def build_faiss(embeddings: np.ndarray, params: VectorIndexParams | None = None, alone: bool = True) -> faiss.Index:
    """Inner product on normalised vectors (cosine): exact (flat) up to the threshold, HNSW above it."""
    desc = describe_faiss(len(embeddings), params, alone)
    dim = embeddings.shape[1]
    if desc["type"] == "flat":
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, desc["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = desc["ef_construction"]
        index.hnsw.efSearch = desc["ef_search"]
    if len(embeddings):
        index.add(embeddings)
    return index


def faiss_search(
    index: faiss.Index,
    qvec: np.ndarray,
    n: int,
    ok: np.ndarray | None,
    ef_search: int,
    exact_filter_max: int,
    filtered_total: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-n (local ids, scores) of one FAISS index, restricted to the rows where `ok` (None: all) holds.

    HNSW: a filter that leaves at most `exact_filter_max` rows is searched exactly over the flat vectors HNSW
    keeps beside its graph; a wider one walks the graph with a beam widened by the share filtered out. When the
    index is one segment of several, `filtered_total` is the rows the filter leaves in all of them: the choice
    is made for the whole index, so a filter is searched exactly (or not) as on a one-segment index.
    """
    hnsw = isinstance(index, faiss.IndexHNSW)
    q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
    params, bits = None, None
    if ok is None:
        if hnsw:
            params = faiss.SearchParametersHNSW(efSearch=max(ef_search, n))
    else:
        count = int(np.count_nonzero(ok))
        n = min(n, count)
        if n == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        bits = np.packbits(np.asarray(ok, dtype=bool), bitorder="little")  # kept alive during the search
        sel = faiss.IDSelectorBitmap(len(ok), faiss.swig_ptr(bits))
        if hnsw and (count if filtered_total is None else filtered_total) > exact_filter_max:
            ef = max(ef_search, n) * len(ok) / count
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(min(ef, 4096)))
        else:
            index = faiss.downcast_index(index.storage) if hnsw else index
            params = faiss.SearchParameters(sel=sel)
    n = min(n, index.ntotal)
    if n <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    scores, rows = index.search(q, n, params=params)
    del bits
    keep = rows[0] >= 0
    return rows[0][keep].astype(np.int64), scores[0][keep]
