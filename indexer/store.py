"""The on-disk index: immutable versions switched atomically.

Layout of the index folder::

    CURRENT                 name of the live version (replaced with os.replace)
    .lock                   held by a writer so two indexers never interleave
    versions/<name>/        manifest.json, chunks.sqlite, vectors.faiss,
                            embeddings.f16.npy, bm25.npz, bm25_idf.npy, bm25_vocab.json

A writer builds a whole new version in a temporary folder, renames it into
`versions/`, then points CURRENT at it. A crash at any step leaves CURRENT on the
old, complete version; readers notice the new name and load it beside the old.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from indexer import access
from indexer.config import Settings
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_FILES = ("chunks.sqlite", "vectors.faiss", "embeddings.f16.npy", "bm25.npz", "bm25_idf.npy", "bm25_vocab.json")

_SCHEMA = """
CREATE TABLE documents (
    doc_index INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    source_path TEXT, content_hash TEXT, meta TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_index INTEGER NOT NULL, ordinal INTEGER NOT NULL,
    heading_path TEXT NOT NULL, text TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    page INTEGER, tokens TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_index, ordinal);
"""


@dataclass
class IndexContent:
    """Everything a version holds, in row order; what a writer writes and an update edits."""

    documents: list[Document]
    chunks: list[Chunk]
    embeddings: np.ndarray  # (n_chunks, dim) float32, L2-normalised
    tokens: list[list[str]]  # BM25 tokens per chunk


@dataclass(frozen=True)
class VectorIndexParams:
    """How the FAISS index is built: exact up to `hnsw_threshold` vectors, HNSW above (see Settings)."""

    hnsw_threshold: int = 200_000
    hnsw_m: int = 48
    ef_construction: int = 200
    ef_search: int = 1024

    @classmethod
    def from_settings(cls, s: Settings) -> VectorIndexParams:
        return cls(s.faiss_hnsw_threshold, s.faiss_hnsw_m, s.faiss_hnsw_ef_construction, s.faiss_hnsw_ef_search)


# ---------------------------------------------------------------- locating versions


def current_version_name(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def version_path(index_dir: Path, name: str) -> Path:
    return index_dir / "versions" / name


@contextlib.contextmanager
def writer_lock(index_dir: Path):
    """One writer at a time per index folder (readers never wait)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            remove_leftovers(index_dir)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_leftovers(index_dir: Path) -> list[str]:
    """Delete what a killed writer left behind (.tmp-* version folders, .CURRENT.*.tmp pointers).

    Only a writer holding the lock creates them, so the next lock holder knows they are dead.
    """
    removed = []
    for tmp in [*(index_dir / "versions").glob(".tmp-*"), *index_dir.glob(".CURRENT.*.tmp")]:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp.name)
    return removed


# ---------------------------------------------------------------- writing


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_version(
    index_dir: Path,
    content: IndexContent,
    manifest: dict,
    keep_versions: int = 3,
    vector_params: VectorIndexParams | None = None,
) -> str:
    """Write `content` as a new version and switch CURRENT to it; return its name.

    `vector_params` (default: `VectorIndexParams()`, the Settings defaults) picks the FAISS index type.
    """
    n = len(content.chunks)
    if content.embeddings.shape[0] != n or len(content.tokens) != n:
        raise ValueError("chunks, embeddings and tokens must have the same length")
    versions = index_dir / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    name = f"v{_next_sequence(versions):06d}-" + time.strftime("%Y%m%d-%H%M%S")
    tmp = versions / f".tmp-{name}"
    tmp.mkdir()
    try:
        _write_sqlite(tmp / "chunks.sqlite", content)
        emb = np.ascontiguousarray(content.embeddings, dtype=np.float32)
        dim = int(manifest["dim"])
        if n and emb.shape[1] != dim:
            raise ValueError(f"embeddings have dimension {emb.shape[1]}, manifest says {dim}")
        vector_index = build_faiss(emb.reshape(n, dim), vector_params)
        faiss.write_index(vector_index, str(tmp / "vectors.faiss"))
        del vector_index
        np.save(tmp / "embeddings.f16.npy", emb.reshape(n, dim).astype(np.float16))
        BM25Index.build(content.tokens).save(tmp)
        full = dict(manifest)
        full.update(
            format=FORMAT_VERSION,
            name=name,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            chunks=n,
            vector_index=describe_faiss(n, vector_params),
            documents={
                d.doc_id: {"title": d.title, "hash": d.content_hash, "source_path": d.source_path}
                for d in content.documents
            },
            files={f: (tmp / f).stat().st_size for f in REQUIRED_FILES},
        )
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        # The manifest is written last: a version without one is incomplete by definition.
        (tmp / MANIFEST).write_text(json.dumps(full, ensure_ascii=False, indent=1), encoding="utf-8")
        _fsync_dir(tmp)
        final = versions / name
        os.rename(tmp, final)
        _fsync_dir(versions)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _switch_current(index_dir, name)
    _prune(index_dir, keep_versions)
    return name


def _switch_current(index_dir: Path, name: str) -> None:
    """Point CURRENT at version `name` atomically (readers see the old name or the new, never half)."""
    pointer = index_dir / f".CURRENT.{name}.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    with open(pointer, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(pointer, index_dir / "CURRENT")
    _fsync_dir(index_dir)


def _next_sequence(versions: Path) -> int:
    """Versions are numbered so that name order is creation order (callers hold the writer lock)."""
    seqs = [int(p.name[1:7]) for p in versions.glob("v*") if p.name[1:7].isdigit()]
    return max(seqs, default=0) + 1


def describe_faiss(n: int, params: VectorIndexParams | None = None) -> dict:
    """The index type for n vectors, as recorded in the manifest."""
    p = params or VectorIndexParams()
    if n <= p.hnsw_threshold:
        return {"type": "flat"}
    return {
        "type": "hnsw",
        "m": p.hnsw_m,
        "ef_construction": p.ef_construction,
        "ef_search": p.ef_search,
        "exact_filter_max": p.hnsw_threshold,
    }


def build_faiss(embeddings: np.ndarray, params: VectorIndexParams | None = None) -> faiss.Index:
    """Inner product on normalised vectors (cosine): exact (flat) up to the threshold, HNSW above it."""
    desc = describe_faiss(len(embeddings), params)
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


def _write_sqlite(path: Path, content: IndexContent) -> None:
    doc_index = {d.doc_id: i for i, d in enumerate(content.documents)}
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?)",
            [
                (i, d.doc_id, d.title, d.text, d.source_path, d.content_hash, json.dumps(d.meta, ensure_ascii=False))
                for i, d in enumerate(content.documents)
            ],
        )
        con.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    row,
                    c.chunk_id,
                    doc_index[c.doc_id],
                    c.ordinal,
                    json.dumps(c.heading_path, ensure_ascii=False),
                    c.text,
                    c.start,
                    c.end,
                    c.page,
                    " ".join(toks),
                )
                for row, (c, toks) in enumerate(zip(content.chunks, content.tokens))
            ],
        )
        con.commit()
    finally:
        con.close()


def _prune(index_dir: Path, keep: int) -> None:
    """Drop old versions (readers that still hold one keep their open handles) and stale temp dirs."""
    versions = index_dir / "versions"
    current = current_version_name(index_dir)
    names = sorted(p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in names[: max(0, len(names) - max(keep, 1))]:
        if old != current:
            shutil.rmtree(versions / old, ignore_errors=True)
    for tmp in versions.glob(".tmp-*"):
        if time.time() - tmp.stat().st_mtime > 3600:  # an interrupted writer's leftovers
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- reading


class IndexVersion:
    """A loaded, read-only version: vectors and BM25 in memory, passages in SQLite.

    `ef_search` (HNSW versions) is public: a caller may trade recall for speed by setting it.
    """

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
        docs = self._con.execute("SELECT doc_index, doc_id, title, meta FROM documents ORDER BY doc_index").fetchall()
        self.doc_ids = [d["doc_id"] for d in docs]
        self.doc_titles = [d["title"] for d in docs]
        self.doc_meta = [json.loads(d["meta"]) for d in docs]
        self.doc_index_of = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        rows = self._con.execute("SELECT doc_index FROM chunks ORDER BY row").fetchall()
        self.row_doc = np.fromiter((r[0] for r in rows), dtype=np.int32, count=len(rows))
        self.doc_year = np.array([_as_int(m.get("year")) for m in self.doc_meta], dtype=np.int32)
        self.doc_type = [str(m.get("type") or "") for m in self.doc_meta]

    @property
    def n_chunks(self) -> int:
        return len(self.row_doc)

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
        return Chunk(
            chunk_id=r["chunk_id"],
            doc_id=self.doc_ids[r["doc_index"]],
            title=self.doc_titles[r["doc_index"]],
            heading_path=json.loads(r["heading_path"]),
            text=r["text"],
            start=r["start"],
            end=r["end"],
            ordinal=r["ordinal"],
            page=r["page"],
        )

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
        return Document(
            doc_id=r["doc_id"],
            title=r["title"],
            text=r["text"],
            source_path=r["source_path"] or "",
            content_hash=r["content_hash"] or "",
            meta=json.loads(r["meta"]),
        )

    def documents(self) -> list[dict]:
        return document_list(self.doc_ids, self.doc_titles, self.doc_meta, self.row_doc)

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
        n = min(n, self.n_chunks)
        if n == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        q = np.ascontiguousarray(qvec.reshape(1, -1), dtype=np.float32)
        index, params, bits = self.faiss, None, None
        if allowed is None:
            if self._hnsw:
                params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, n))
        else:
            count = int(np.count_nonzero(allowed))
            if count == 0:
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
            n = min(n, count)
            bits = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")  # kept alive during search
            sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            if self._hnsw and count > self.exact_filter_max:
                # The graph walk skips rows outside the filter: widen the beam by the share filtered out.
                ef = max(self.ef_search, n) * len(allowed) / count
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=int(min(ef, 4096)))
            else:  # exact over the allowed rows only (their distances alone are computed)
                index, params = self._flat, faiss.SearchParameters(sel=sel)
        scores, rows = index.search(q, n, params=params)
        del bits
        keep = rows[0] >= 0
        return rows[0][keep].astype(np.int64), scores[0][keep]

    def allowed_rows(
        self, doc_ids=(), year_from=None, year_to=None, doc_types=(), collections=None
    ) -> np.ndarray | None:
        """Boolean row mask for a filter, or None when nothing is filtered.

        `collections` is the reader's scope (indexer.access): rows of documents outside it are never allowed.
        """
        in_scope = access.doc_mask(self, collections)
        if not (doc_ids or year_from or year_to or doc_types) and in_scope is None:
            return None
        ok_doc = np.ones(len(self.doc_ids), dtype=bool) if in_scope is None else in_scope.copy()
        if doc_ids:
            wanted = {self.doc_index_of[d] for d in doc_ids if d in self.doc_index_of}
            ok_doc &= np.isin(np.arange(len(self.doc_ids)), list(wanted))
        if year_from:
            ok_doc &= self.doc_year >= year_from
        if year_to:
            ok_doc &= (self.doc_year <= year_to) & (self.doc_year > 0)
        if doc_types:
            ok_doc &= np.array([t in doc_types for t in self.doc_type], dtype=bool)
        return ok_doc[self.row_doc] if len(self.row_doc) else np.zeros(0, dtype=bool)


def document_list(doc_ids: list[str], titles: list[str], metas: list[dict], row_doc: np.ndarray) -> list[dict]:
    """The `documents()` listing every backend returns: id, title, chunk count, metadata."""
    counts = np.bincount(row_doc, minlength=len(doc_ids)) if len(row_doc) else np.zeros(len(doc_ids), dtype=int)
    return [
        {"doc_id": d, "title": t, "chunks": int(counts[i]), "meta": m}
        for i, (d, t, m) in enumerate(zip(doc_ids, titles, metas))
    ]


def _as_int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def open_current(index_dir: Path) -> IndexVersion:
    name = current_version_name(index_dir)
    if name is None:
        raise IndexNotFoundError(f"no index in {index_dir}: build one with `make index` or `python -m indexer build`")
    if not version_path(index_dir, name).is_dir():
        raise IndexCorruptError(f"{index_dir}/CURRENT names version {name}, which does not exist; rebuild the index")
    return IndexVersion(index_dir, name)
