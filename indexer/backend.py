"""The store interface between the engine and its backend: FAISS + SQLite or Milvus, picked by one setting.

SearchEngine reads through an `IndexReader` (one open, immutable version) and the pipeline writes through an
`IndexStore` (one writer at a time; each write is a whole new version, switched atomically), so neither
knows which backend holds the index. `Settings.milvus_uri` empty = FAISS (store.py), set = Milvus
(milvus_store.py).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from indexer.config import Settings
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store import (
    IndexContent,
    VectorIndexParams,
    current_version_name,
    open_current,
    write_version,
    writer_lock,
)


@runtime_checkable
class IndexReader(Protocol):
    """One loaded index version. Rows are 0..n_chunks-1 in IndexContent order on every backend."""

    name: str
    manifest: dict  # model, dim, chunker, chunking, created, chunks ...
    bm25: BM25Index  # in the process on both backends: same tokens, same scores
    doc_ids: list[str]  # by doc index
    doc_meta: list[dict]
    doc_index_of: dict[str, int]

    @property
    def n_chunks(self) -> int: ...

    def allowed_rows(
        self, doc_ids=(), year_from=None, year_to=None, doc_types=(), collections=None
    ) -> np.ndarray | None:
        """Boolean row mask for a filter (None: no filter); passed back to dense() and to bm25.search().

        `collections`: the reader's scope (indexer.access); rows outside it must never be allowed.
        """

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (rows, inner-product scores), best first, restricted to `allowed` when given."""

    def chunks_at(self, rows: list[int]) -> list[Chunk]: ...

    def row_of(self, chunk_id: str) -> int | None: ...

    def vector(self, row: int) -> np.ndarray: ...

    def chunks_of(self, doc_id: str) -> list[Chunk]: ...

    def document(self, doc_id: str) -> Document | None: ...

    def documents(self) -> list[dict]: ...

    def content(self) -> IndexContent:
        """Everything, in row order, for a writer that derives the next version."""

    def close(self) -> None: ...


@runtime_checkable
class IndexStore(Protocol):
    """Where versions live: what the pipeline writes to and the engine opens."""

    def lock(self) -> AbstractContextManager:
        """Held by a writer for a whole read-modify-write (cleans a dead writer's leftovers on entry)."""

    def current_name(self) -> str | None:
        """Name of the live version, cheaply (called before each request)."""

    def open_current(self) -> IndexReader:
        """The live version (IndexNotFoundError when none, IndexCorruptError when unreadable)."""

    def write(self, content: IndexContent, manifest: dict) -> str:
        """Write `content` as a new version, switch readers to it, prune old ones; return its name."""


@dataclass(frozen=True)
class FaissStore:
    """FAISS vectors + SQLite passages + BM25 files under one folder (store.py), the embedded default."""

    index_dir: Path
    keep_versions: int = 3
    vector_params: VectorIndexParams | None = None  # None: the defaults (open_store passes the settings')

    def lock(self) -> AbstractContextManager:
        return writer_lock(self.index_dir)

    def current_name(self) -> str | None:
        return current_version_name(self.index_dir)

    def open_current(self) -> IndexReader:
        return open_current(self.index_dir)

    def write(self, content: IndexContent, manifest: dict) -> str:
        return write_version(self.index_dir, content, manifest, self.keep_versions, self.vector_params)


def open_store(settings: Settings) -> IndexStore:
    """The configured backend; Milvus (and pymilvus) is imported only when configured."""
    if settings.milvus_uri:
        from indexer.milvus_store import MilvusStore

        return MilvusStore.from_settings(settings)
    return FaissStore(settings.index_dir, settings.keep_versions, VectorIndexParams.from_settings(settings))


def describe(settings: Settings) -> str:
    """Where the index lives, for messages."""
    if settings.milvus_uri:
        return f"Milvus {settings.milvus_uri} (collection {settings.milvus_collection})"
    return str(settings.index_dir)
