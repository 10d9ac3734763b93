"""The store contract: what the engine reads through and the pipeline writes through, on every backend.

Backends: `FaissStore` (segments.py: FAISS + SQLite segments under one folder, the embedded default) and
`MilvusStore` (milvus.py: Milvus Lite file, standalone server or cluster). tests/store/contract.py holds the
test class every backend runs.

Errors, on every backend:
- `IndexNotFoundError`: no index has been written yet (`open_current`, `delete`, `optimize`).
- `IndexCorruptError`: the live index cannot be read (a file missing, truncated or garbled; counts that do not
  agree); the message says what and how to recover. A reader that is already open keeps serving.
- `ValueError`: content whose parts do not line up (`IndexContent.check`): a programming error.
- `SearchEngineError`: the backend refused (Milvus unreachable, a value over its limits); nothing published.
A write that fails for any reason publishes nothing: readers keep the last published version.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import numpy as np

from indexer.models import Chunk, Document
from indexer.store.core import IndexContent


@runtime_checkable
class IndexReader(Protocol):
    """One published index version (a snapshot): never changes while open.

    Rows are 0..n_chunks-1: the live chunks in the order they were added (documents in add order, a
    document's chunks in ordinal order), the same on every backend and the same as a fresh build of the same
    documents in the same order.
    """

    name: str  # the version name; changes with every published write
    manifest: dict  # model, dim, chunker, chunking, created, chunks, ... (backend-specific extras)
    bm25: object  # lexical.BM25Index-like: search(tokens, n, allowed) and term_idf(term), global statistics
    doc_ids: list[str]  # by document index
    doc_meta: list[dict]
    doc_index_of: dict[str, int]
    row_doc: np.ndarray  # document index of each row

    @property
    def n_chunks(self) -> int: ...

    def allowed_rows(
        self, doc_ids=(), year_from=None, year_to=None, doc_types=(), collections=None
    ) -> np.ndarray | None:
        """Boolean row mask (None: no filter) for dense() and bm25.search(): both apply it before ranking.

        `collections`: the reader's scope (indexer.access; None = no limit, empty = nothing); rows of documents
        outside it are never allowed (DocTable.allowed_rows is the one definition, on every backend).
        """

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n (rows, inner-product scores), best first, only rows where `allowed` holds."""

    def chunks_at(self, rows: list[int]) -> list[Chunk]:
        """The passages at these rows, in the order given."""

    def row_of(self, chunk_id: str) -> int | None:
        """The row of a passage id, None when no live passage has it."""

    def vector(self, row: int) -> np.ndarray: ...

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """A document's passages in ordinal order ([] for an unknown or removed id)."""

    def document(self, doc_id: str) -> Document | None:
        """The stored document (None for an unknown or removed id)."""

    def documents(self) -> list[dict]:
        """[{doc_id, title, chunks, meta}] in document order."""

    def known_documents(self) -> dict[str, tuple[str, str, dict]]:
        """doc_id -> (content hash, title, metadata), for a writer deciding what changed."""

    def content(self) -> IndexContent:
        """Everything live, in row order (migration, full rewrites)."""

    def close(self) -> None:
        """Free what only this reader holds (shared parts stay for newer readers)."""


@runtime_checkable
class IndexStore(Protocol):
    """Where an index lives. One writer at a time (`lock`), any number of readers; every write publishes a new
    version atomically or nothing."""

    def lock(self) -> AbstractContextManager:
        """Held by a writer for a whole read-modify-write (clears a dead writer's leftovers on entry)."""

    def current_name(self) -> str | None:
        """Name of the live version, cheaply (called before each request); None when there is none."""

    def open_current(self) -> IndexReader:
        """The live version (IndexNotFoundError when none, IndexCorruptError when unreadable)."""

    def write(self, content: IndexContent, manifest: dict) -> str:
        """Replace the whole index by `content` (a fresh build); return the new version's name."""

    def add(self, content: IndexContent, manifest: dict, replace: tuple[str, ...] = ()) -> str:
        """Add `content`'s documents and, in the same version, remove the documents `replace` names (their
        old text); incremental where the backend can be. Returns the new version's name."""

    def delete(self, doc_ids: tuple[str, ...]) -> str:
        """Remove documents (ids not in the index are ignored); returns the new version's name."""

    def optimize(self) -> str:
        """Compact the index (merge segments, purge deleted rows) without changing what searches return."""

    def stats(self) -> dict:
        """Backend facts for /api/health and the bench: segments, deleted rows, lexical mode, bytes."""
