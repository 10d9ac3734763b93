"""Reading an index written before segments: ``CURRENT`` holding a version name, ``versions/<name>/``
with manifest.json, chunks.sqlite, vectors.faiss, embeddings.f16.npy and bm25 files.

Such an index keeps serving as it is; the first write through FaissStore converts it to segments.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np

from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store.core import (
    FORMAT_VERSION,
    DocTable,
    IndexContent,
    VectorIndexParams,
    faiss_search,
    make_chunk,
    make_document,
)

MANIFEST = "manifest.json"


def current_version_name(index_dir: Path) -> str | None:
    """The live version's name (legacy CURRENT or a segments manifest's name)."""
    from indexer.store.faiss_reader import read_manifest

    m = read_manifest(index_dir)
    return None if m is None else m.get("legacy") or m.get("name")


def version_path(index_dir: Path, name: str) -> Path:
    return index_dir / "versions" / name


def remove_leftovers(index_dir: Path) -> list[str]:
    """Delete what a killed writer left behind (.tmp-* version folders, .CURRENT.*.tmp pointers)."""
    removed = []
    for tmp in [*(index_dir / "versions").glob(".tmp-*"), *index_dir.glob(".CURRENT.*.tmp")]:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


class IndexVersion(DocTable):
    """A loaded, read-only pre-segment version: vectors and BM25 in memory, passages in SQLite."""

    @property
    def hnsw(self) -> bool:
        """True when the vectors sit in an HNSW graph (approximate; see ef_search)."""
        return self._hnsw

    def __init__(self, index_dir: Path, name: str):
        self.name = name
        self.path = version_path(index_dir, name)
        self.manifest = self._read_manifest()
        try:
            self.faiss = faiss.read_index(str(self.path / "vectors.faiss"))
            self._hnsw = isinstance(self.faiss, faiss.IndexHNSW)
            # Filtered searches over few rows go exact, over the flat vectors HNSW keeps beside its graph.
            self._flat = faiss.downcast_index(self.faiss.storage) if self._hnsw else self.faiss
            recorded = self.manifest.get("vector_index", {})
            self.ef_search = int(recorded.get("ef_search") or (self.faiss.hnsw.efSearch if self._hnsw else 0))
            self.exact_filter_max = int(recorded.get("exact_filter_max", VectorIndexParams().hnsw_threshold))
            self.bm25 = BM25Index.load(self.path)
            self._con = sqlite3.connect(
                f"file:{self.path / 'chunks.sqlite'}?mode=ro", uri=True, check_same_thread=False
            )
            self._con.row_factory = sqlite3.Row
            self._load_row_arrays()
        except IndexCorruptError:
            raise
        except Exception as exc:  # faiss RuntimeError, zipfile errors, sqlite errors ...
            raise IndexCorruptError(f"index version {name} at {self.path} cannot be read: {exc}") from exc
        n = self.manifest["chunks"]
        if self.faiss.ntotal != n or self.bm25.n_rows != n or len(self.row_doc) != n:
            raise IndexCorruptError(
                f"index version {name} is inconsistent: manifest {n} chunks, vectors {self.faiss.ntotal}, "
                f"bm25 {self.bm25.n_rows}, sqlite {len(self.row_doc)}; rebuild it with `make index`"
            )

    def _read_manifest(self) -> dict:
        try:
            manifest = json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IndexCorruptError(f"index version {self.name} has no manifest (half-written?): {self.path}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IndexCorruptError(f"index version {self.name} has a damaged manifest: {exc}") from exc
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"index version {self.name} has format {manifest.get('format')}, this program reads "
                f"{FORMAT_VERSION}; rebuild it with `make index`"
            )
        for f, size in manifest.get("files", {}).items():
            p = self.path / f
            if not p.exists() or p.stat().st_size != size:
                raise IndexCorruptError(f"index file {p} is missing or truncated; rebuild it with `make index`")
        return manifest

    def _load_row_arrays(self) -> None:
        """Per-row arrays that filters need, kept in memory (4 bytes a chunk)."""
        docs = self._con.execute(
            "SELECT doc_index, doc_id, title, meta, content_hash FROM documents ORDER BY doc_index"
        ).fetchall()
        self.set_documents(
            [d["doc_id"] for d in docs],
            [d["title"] for d in docs],
            [json.loads(d["meta"]) for d in docs],
            [d["content_hash"] or "" for d in docs],
        )
        rows = self._con.execute("SELECT doc_index FROM chunks ORDER BY row").fetchall()
        self.row_doc = np.fromiter((r[0] for r in rows), dtype=np.int32, count=len(rows))

    def close(self) -> None:
        self._con.close()

    # -- lookups

    def chunks_at(self, rows: list[int]) -> list[Chunk]:
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        found = {
            r["row"]: r
            for r in self._con.execute(
                f"SELECT row, chunk_id, doc_index, ordinal, heading_path, text, start, end, page FROM chunks "
                f"WHERE row IN ({marks})",
                [int(r) for r in rows],
            )
        }
        return [self._chunk(found[int(r)]) for r in rows]

    def _chunk(self, r: sqlite3.Row) -> Chunk:
        return make_chunk(r, self.doc_ids, self.doc_titles)

    def row_of(self, chunk_id: str) -> int | None:
        r = self._con.execute("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
        return None if r is None else int(r[0])

    def vector(self, row: int) -> np.ndarray:
        return self.faiss.reconstruct(int(row))

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        i = self.doc_index_of.get(doc_id)
        if i is None:
            return []
        cur = self._con.execute(
            "SELECT row, chunk_id, doc_index, ordinal, heading_path, text, start, end, page FROM chunks "
            "WHERE doc_index = ? ORDER BY ordinal",
            (i,),
        )
        return [self._chunk(r) for r in cur]

    def document(self, doc_id: str) -> Document | None:
        i = self.doc_index_of.get(doc_id)
        if i is None:
            return None
        r = self._con.execute("SELECT * FROM documents WHERE doc_index = ?", (i,)).fetchone()
        return make_document(r)

    def content(self) -> IndexContent:
        """Everything in this version, for a writer that derives the next version from it."""
        docs = [self.document(d) for d in self.doc_ids]
        chunks, tokens = [], []
        for r in self._con.execute(
            "SELECT row, chunk_id, doc_index, ordinal, heading_path, text, start, end, page, tokens FROM chunks "
            "ORDER BY row"
        ):
            chunks.append(self._chunk(r))
            tokens.append(r["tokens"].split(" ") if r["tokens"] else [])
        emb = np.load(self.path / "embeddings.f16.npy").astype(np.float32)
        return IndexContent(documents=docs, chunks=chunks, embeddings=emb, tokens=tokens)

    # -- search primitives

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by cosine, best first (restricted to `allowed` rows when given)."""
        if self.n_chunks == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return faiss_search(self.faiss, qvec, min(n, self.n_chunks), allowed, self.ef_search, self.exact_filter_max)


def open_version(index_dir: Path, name: str | None) -> IndexVersion:
    if name is None:
        raise IndexNotFoundError(f"no index in {index_dir}: build one with `make index` or `python -m indexer build`")
    if not version_path(index_dir, name).is_dir():
        raise IndexCorruptError(f"{index_dir}/CURRENT names version {name}, which does not exist; rebuild the index")
    return IndexVersion(index_dir, name)
