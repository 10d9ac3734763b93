"""One immutable segment of a FAISS + SQLite index: rows, vectors and lexical postings of some documents.

A segment folder (``segments/<name>/``) is written once, in a temporary folder renamed into place, and never
changed; deletions live in the manifest (faiss_store.py), not here::

    chunks.sqlite      documents and passages (local row / document numbers), BM25 tokens per passage
    vectors.faiss      the passage vectors: flat (exact) or HNSW, chosen by the segment's size
    row_doc.npy        local document number of each row (int32)
    postings.npz       term frequencies, rows x local terms (CSR), for BM25 with index-wide statistics
    vocab.json         the local terms, in column order
    extra-<name>.npy   row-aligned extension arrays (IndexContent.extras), optional
    segment.json       written last: rows, documents, vector index, file sizes (no segment.json = unfinished)
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp

from indexer.errors import IndexCorruptError
from indexer.models import Chunk, Document
from indexer.store.core import (
    FORMAT_VERSION,
    IndexContent,
    VectorIndexParams,
    build_faiss,
    describe_faiss,
    fsync_dir,
    fsync_file,
    make_chunk,
    make_document,
    read_json,
)

SEGMENT_META = "segment.json"
CHUNK_COLUMNS = "row, chunk_id, doc_index, ordinal, heading_path, text, start, end, page"

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


# ---------------------------------------------------------------- writing


def term_frequencies(tokens: list[list[str]]) -> tuple[sp.csr_matrix, list[str]]:
    """Rows x local terms term-frequency matrix and the terms in column order (first occurrence)."""
    vocab: dict[str, int] = {}
    cols, indptr = [], [0]
    for toks in tokens:
        cols.extend(vocab.setdefault(t, len(vocab)) for t in toks)
        indptr.append(len(cols))
    data = np.ones(len(cols), dtype=np.float32)
    tf = sp.csr_matrix(
        (data, np.asarray(cols, dtype=np.int32), np.asarray(indptr, dtype=np.int64)),
        shape=(len(tokens), max(len(vocab), 1)),
    )
    tf.sum_duplicates()
    return tf, list(vocab)


def write_segment(
    folder: Path, name: str, content: IndexContent, dim: int, params: VectorIndexParams | None, alone: bool = True
) -> dict:
    """Write `content` as segment `name` under `folder` (temp folder, then one rename); return its metadata.

    `alone`: the segment is the whole index; else it sits beside others and its vector index follows the
    segment threshold (core.describe_faiss)."""
    content.check(dim)
    tmp = folder / f".tmp-{name}"
    tmp.mkdir(parents=True)
    try:
        _write_sqlite(tmp / "chunks.sqlite", content)
        n = len(content.chunks)
        emb = np.ascontiguousarray(np.asarray(content.embeddings, dtype=np.float32).reshape(n, dim))
        faiss.write_index(build_faiss(emb, params, alone), str(tmp / "vectors.faiss"))
        doc_index = {d.doc_id: i for i, d in enumerate(content.documents)}
        np.save(tmp / "row_doc.npy", np.array([doc_index[c.doc_id] for c in content.chunks], dtype=np.int32))
        tf, vocab = term_frequencies(content.tokens)
        sp.save_npz(tmp / "postings.npz", tf, compressed=False)
        (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        for key, arr in content.extras.items():
            np.save(tmp / f"extra-{key}.npy", np.asarray(arr))
        meta = {
            "format": FORMAT_VERSION,
            "name": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "rows": n,
            "documents": len(content.documents),
            "dim": dim,
            "vector_index": describe_faiss(n, params, alone),
            "extras": sorted(content.extras),
            "files": {},
        }
        for f in sorted(tmp.iterdir()):
            fsync_file(f)
            meta["files"][f.name] = f.stat().st_size
        (tmp / SEGMENT_META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
        fsync_file(tmp / SEGMENT_META)
        fsync_dir(tmp)
        os.rename(tmp, folder / name)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    meta["bytes"] = sum(meta["files"].values()) + (folder / name / SEGMENT_META).stat().st_size
    return meta


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


# ---------------------------------------------------------------- reading


def file_signature(path: Path) -> tuple:
    """Sizes and modification times of a segment's files: a cached segment is reused only while it holds."""
    try:
        return tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in path.iterdir()))
    except FileNotFoundError:
        return ()


class Segment:
    """A read-only segment: documents and row -> document in memory at once; vectors and postings on first use.

    Shared by every snapshot that lists it (segments never change), so a reload after an add reads only the
    new segment's files.
    """

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        self.meta = read_json(path / SEGMENT_META, f"index segment {self.name}")
        if self.meta.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"index segment {self.name} has format {self.meta.get('format')}, this program reads "
                f"{FORMAT_VERSION}; rebuild it with `make index`"
            )
        for f, size in self.meta.get("files", {}).items():
            p = path / f
            if not p.exists() or p.stat().st_size != size:
                raise IndexCorruptError(f"index file {p} is missing or truncated; rebuild it with `make index`")
        self.signature = file_signature(path)
        self._lock = threading.Lock()
        self._faiss: faiss.Index | None = None
        self._postings: tuple[sp.csr_matrix, list[str]] | None = None
        recorded = self.meta["vector_index"]
        self.hnsw = recorded.get("type") == "hnsw"
        self.ef_search = int(recorded.get("ef_search", 0))
        self.ef_search_min = int(recorded.get("ef_search_min", VectorIndexParams().segment_ef_search_min))
        self.exact_filter_max = int(recorded.get("exact_filter_max", VectorIndexParams().hnsw_threshold))
        try:
            self._con = sqlite3.connect(f"file:{path / 'chunks.sqlite'}?mode=ro", uri=True, check_same_thread=False)
            self._con.row_factory = sqlite3.Row
            docs = self._con.execute(
                "SELECT doc_index, doc_id, title, meta, content_hash FROM documents ORDER BY doc_index"
            ).fetchall()
            self.row_doc = np.load(path / "row_doc.npy")
        except Exception as exc:  # sqlite errors, numpy format errors
            raise IndexCorruptError(f"index segment {self.name} at {path} cannot be read: {exc}") from exc
        self.doc_ids = [d["doc_id"] for d in docs]
        self.doc_titles = [d["title"] for d in docs]
        self.doc_meta = [json.loads(d["meta"]) for d in docs]
        self.doc_hash = [d["content_hash"] or "" for d in docs]
        if len(self.row_doc) != self.meta["rows"] or len(docs) != self.meta["documents"]:
            raise IndexCorruptError(
                f"index segment {self.name} is inconsistent: {self.meta['rows']} rows and {self.meta['documents']} "
                f"documents listed, {len(self.row_doc)} and {len(docs)} stored; rebuild it with `make index`"
            )

    @property
    def n_rows(self) -> int:
        return len(self.row_doc)

    @property
    def faiss(self) -> faiss.Index:
        if self._faiss is None:
            with self._lock:
                if self._faiss is None:
                    self._faiss = self._read(lambda: faiss.read_index(str(self.path / "vectors.faiss")))
                    if self._faiss.ntotal != self.n_rows:
                        raise IndexCorruptError(f"index segment {self.name}: vectors do not match its rows")
        return self._faiss

    @property
    def postings(self) -> tuple[sp.csr_matrix, list[str]]:
        if self._postings is None:
            with self._lock:
                if self._postings is None:
                    self._postings = self._read(
                        lambda: (
                            sp.load_npz(self.path / "postings.npz").tocsr(),
                            json.loads((self.path / "vocab.json").read_text(encoding="utf-8")),
                        )
                    )
        return self._postings

    def _read(self, load):
        try:
            return load()
        except Exception as exc:
            raise IndexCorruptError(f"index segment {self.name} at {self.path} cannot be read: {exc}") from exc

    def extra(self, key: str) -> np.ndarray | None:
        """A row-aligned extension array (memory-mapped), None when this segment has none."""
        p = self.path / f"extra-{key}.npy"
        return np.load(p, mmap_mode="r") if p.exists() else None

    def chunks_at(self, rows: list[int], doc_ids: list[str], titles: list[str]) -> list[Chunk]:
        """Passages at local rows, with their document ids and titles from the caller (global numbering)."""
        if not rows:
            return []
        marks = ",".join("?" * len(rows))
        cur = self._con.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE row IN ({marks})", [int(r) for r in rows])
        found = {r["row"]: r for r in cur}
        return [make_chunk(found[int(r)], doc_ids, titles) for r in rows]

    def rows_of_doc(self, local_doc: int) -> list[int]:
        cur = self._con.execute("SELECT row FROM chunks WHERE doc_index = ? ORDER BY ordinal", (local_doc,))
        return [r[0] for r in cur]

    def row_of(self, chunk_id: str) -> int | None:
        r = self._con.execute("SELECT row FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
        return None if r is None else int(r[0])

    def document(self, local_doc: int) -> Document:
        r = self._con.execute("SELECT * FROM documents WHERE doc_index = ?", (local_doc,)).fetchone()
        return make_document(r)

    def content(self, live_docs: np.ndarray) -> IndexContent:
        """The live documents' content (vectors exact, from FAISS), for merges and full rewrites."""
        rows = np.flatnonzero(live_docs[self.row_doc]) if self.n_rows else np.zeros(0, dtype=np.int64)
        docs = [self.document(i) for i in np.flatnonzero(live_docs).tolist()]
        wanted = set(rows.tolist())
        chunks, tokens = [], []
        for r in self._con.execute(f"SELECT {CHUNK_COLUMNS}, tokens FROM chunks ORDER BY row"):
            if r["row"] in wanted:
                chunks.append(make_chunk(r, self.doc_ids, self.doc_titles))
                tokens.append(r["tokens"].split(" ") if r["tokens"] else [])
        dim = int(self.meta["dim"])
        emb = self.faiss.reconstruct_n(0, self.n_rows) if self.n_rows else np.zeros((0, dim), dtype=np.float32)
        extras = {k: np.asarray(self.extra(k))[rows] for k in self.meta.get("extras", [])}
        return IndexContent(docs, chunks, np.asarray(emb, dtype=np.float32)[rows], tokens, extras)

    def close(self) -> None:
        self._con.close()
