"""Milvus as the vector and text store (pymilvus): a Milvus Lite file, a standalone server or a cluster.

Layout: each index version is two collections, written once and never changed::

    <prefix>_vNNNNNN_<YYYYmmdd_HHMMSS>        one row per chunk: row (primary key, = IndexContent order),
                                              passage fields, filter fields (doc_id, year, doc_type), the BM25
                                              tokens and the vector (FLOAT_VECTOR, metric IP)
    <prefix>_vNNNNNN_<YYYYmmdd_HHMMSS>_docs   documents (text in parts under VARCHAR's 64 KiB) and the
                                              manifest (doc_index -1); a 2-d placeholder vector, since every
                                              Milvus collection needs one
    alias <prefix>                            -> the live chunks collection

A writer fills, flushes, indexes and loads both collections and checks their row counts (Strong consistency)
before it moves the alias, so readers see the old version or the new one, never half of one; old versions
beyond keep_versions are dropped. Incremental writes add generations to the live pair (see MilvusStore.add).
BM25 runs in Milvus as sparse vectors where the server has them (milvus_sparse.py), else in the process: a reader
builds lexical.BM25Index from the token strings stored with the chunks (and, reloading for a later generation,
from the term frequencies it already holds plus the rows written since), so both backends rank lexically alike
(same textnorm tokens, k1/b and global idf) and best_sentence() keeps its idf. (Milvus Lite's own BM25
function keeps a per-segment idf and its own jieba analyzer; it would give other rankings than the FAISS backend.)
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from indexer import access
from indexer.config import Settings
from indexer.errors import IndexCorruptError, IndexNotFoundError, SearchEngineError
from indexer.lexical import BM25Index, stack_postings
from indexer.models import Chunk, Document
from indexer.store import milvus_sparse as sparse_bm25
from indexer.store.core import FORMAT_VERSION, MANIFEST_KEYS, DocTable, IndexContent, file_lock, make_chunk

DOCS_SUFFIX = "_docs"
MAX_VARCHAR = 65535  # bytes, Milvus's limit for one VARCHAR value
PART_CHARS = 16000  # a document's text is stored in parts of this many characters (<= 4 bytes each)
BATCH = 1000  # rows per query page
INSERT_BATCH = 4000  # chunk rows built and inserted at a time (a few MB per request; a build holds one page of rows)
CHUNK_FIELDS = ["row", "chunk_id", "doc_index", "ordinal", "heading_path", "text", "start", "end", "page"]
INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")
_TEXT_FIELDS = ("chunk_id", "doc_id", "doc_type")
LEXICAL_MODES = ("auto", "process")  # auto: sparse vectors in Milvus where the server has them
SPARSE = "milvus-sparse"  # manifest["lexical"] of a version whose rows carry BM25 sparse vectors
LEXICAL_WORDS = {
    SPARSE: "BM25 in Milvus: sparse vectors of term saturations per passage, idf at query time (index-wide "
    "statistics); serving processes hold the vocabulary only",
    "in-process": "in-process BM25 from the stored tokens (index-wide statistics)",
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")

_CLIENTS: dict[tuple[str, str], object] = {}
_CLIENTS_LOCK = threading.Lock()


def is_local(uri: str) -> bool:
    """A Milvus Lite file (a path) rather than a server address."""
    return not re.match(r"^[a-z]+://", uri)


def client_for(uri: str, token: str | None = None):
    """One MilvusClient per (uri, token) per process (Milvus Lite also allows one process per file)."""
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    key = (uri, token or "")
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            if is_local(uri):
                if not uri.endswith(".db"):
                    raise SearchEngineError(f"a Milvus Lite URI is a file path ending in .db, got {uri!r}")
                Path(uri).parent.mkdir(parents=True, exist_ok=True)
            try:
                client = MilvusClient(uri=uri, token=token or "")
            except MilvusException as exc:
                hint = " (Milvus Lite serves one process at a time: is another one using it?)" if is_local(uri) else ""
                raise SearchEngineError(f"cannot open Milvus at {uri}: {exc.message}{hint}") from exc
            _CLIENTS[key] = client
    return client


@contextlib.contextmanager
def _milvus_errors(what: str, error: type[SearchEngineError] = SearchEngineError) -> Iterator[None]:
    """Milvus failures become the engine's errors: a clear message, and a failed reload keeps the loaded version."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        raise error(f"Milvus: {what}: {exc.message}") from exc


def filter_expr(doc_ids=(), year_from=None, year_to=None, doc_types=()) -> str:
    """The Milvus boolean expression keeping the same rows as DocTable.allowed_rows (scope aside)."""
    parts = []
    if doc_ids:
        parts.append(f"doc_id in {_str_list(doc_ids)}")
    if year_from:
        parts.append(f"year >= {int(year_from)}")
    if year_to:
        parts.append(f"(year <= {int(year_to)} and year > 0)")
    if doc_types:
        parts.append(f"doc_type in {_str_list(doc_types)}")
    return " and ".join(parts)


def _str_list(values) -> str:
    return json.dumps([str(v) for v in values], ensure_ascii=False)


class FilterMask(np.ndarray):
    """A row mask (for the in-process BM25) that also carries its filter as a Milvus expression (for dense)."""

    expr: str = ""

    def __array_finalize__(self, obj) -> None:
        self.expr = getattr(obj, "expr", "")


@dataclass(frozen=True)
class ServerCaps:
    """What a Milvus server can do, by its version: Milvus Lite 3.x and servers >= 2.4 have INVERTED scalar
    indexes and sparse vectors; 2.3 has Trie (VARCHAR) and STL_SORT (numbers) and no sparse vectors."""

    version: str
    inverted: bool
    sparse: bool

    @classmethod
    def from_version(cls, version: str) -> ServerCaps:
        if version.startswith("milvus_lite"):
            return cls(version, True, True)
        m = re.match(r"v?(\d+)\.(\d+)", version)
        newer = m is not None and (int(m.group(1)), int(m.group(2))) >= (2, 4)
        return cls(version, newer, newer)

    def scalar_index(self, is_text: bool) -> str:
        if self.inverted:
            return "INVERTED"
        return "Trie" if is_text else "STL_SORT"


def _year(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# ---------------------------------------------------------------- schemas


def _chunk_schema(dim: int, sparse: bool = False):
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description="policy-search chunks")
    s.add_field("row", DataType.INT64, is_primary=True)
    for name in ("chunk_id", "doc_id", "doc_type", "heading_path", "text", "tokens"):
        s.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    for name in ("doc_index", "year", "ordinal", "start", "end", "page", "gen"):
        s.add_field(name, DataType.INT64)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    if sparse:  # BM25 in the store (milvus_sparse.py): term saturations and the passage's token count
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("length", DataType.INT64)
    return s


def _docs_schema():
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description="policy-search documents")
    s.add_field("pk", DataType.INT64, is_primary=True)
    s.add_field("doc_index", DataType.INT64)  # -1: the manifest
    s.add_field("part", DataType.INT64)
    s.add_field("gen", DataType.INT64)  # the write (generation) that inserted the row
    for name in ("doc_id", "title", "source_path", "content_hash", "body"):
        s.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    s.add_field("meta", DataType.JSON)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    return s


def _vector_index_params(index_type: str) -> dict:
    return {"HNSW": {"M": 16, "efConstruction": 200}, "IVF_FLAT": {"nlist": 128}}.get(index_type, {})


def _search_params(index_type: str, n: int) -> dict:
    params = {"HNSW": {"ef": max(64, n)}, "IVF_FLAT": {"nprobe": 16}}.get(index_type, {})
    return {"metric_type": "IP", "params": params}


# ---------------------------------------------------------------- reading


def version_name(collection: str, gen: int) -> str:
    """A version's name: its collection, plus the generation of incremental writes on it."""
    return collection if gen == 0 else f"{collection}@g{gen}"


def split_name(name: str) -> tuple[str, int]:
    collection, _, gen = name.partition("@g")
    return collection, int(gen or 0)


def read_term_stats(
    client, collection: str, gen: int, consistency: str = "Strong", after: int = -1, deltas_only: bool = False
):
    """The BM25 statistics of a generation: the deltas of generations after+1..gen summed (milvus_sparse.py);
    with `deltas_only`, the (gen, delta) list itself."""
    rows = client.query(
        collection + DOCS_SUFFIX,
        filter=f"doc_index == {sparse_bm25.STATS_DOC_INDEX} and gen <= {gen} and gen > {after}",
        output_fields=["gen", "part", "body"], limit=16384, consistency_level=consistency,
    )
    deltas = sparse_bm25.parse_deltas(rows)
    return deltas if deltas_only else sparse_bm25.TermStats.from_deltas(deltas)


MAX_POSTING_PARTS = 8  # a reader joins its term-frequency parts into one past this many


class TermCounts:
    """Term frequencies of rows streamed in as space-joined token strings, held compactly (one int32 per token,
    not Python lists, while reading; then an int32 term and a uint16 count per distinct term of a row), for the
    in-process BM25 of a reader."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.ids = array("i")
        self.indptr = array("q", [0])

    def add(self, tokens: str) -> None:
        if tokens:
            vocab = self.vocab
            self.ids.extend([vocab.setdefault(t, len(vocab)) for t in tokens.split(" ")])
        self.indptr.append(len(self.ids))

    def part(self) -> tuple[sp.csr_matrix, list[str]]:
        """(rows x local terms term frequencies, the terms in column order): a part for BM25Index.from_postings."""
        cols = np.frombuffer(self.ids, dtype=np.int32).copy() if len(self.ids) else np.zeros(0, dtype=np.int32)
        indptr = np.frombuffer(self.indptr, dtype=np.int64).copy()
        tf = sp.csr_matrix((np.ones(cols.size, dtype=np.float32), cols, indptr),
                           shape=(indptr.size - 1, max(len(self.vocab), 1)))
        tf.sum_duplicates()
        if not tf.nnz or tf.data.max() <= np.iinfo(np.uint16).max:  # counts as uint16: a quarter less memory
            tf.data = tf.data.astype(np.uint16)
        return tf, list(self.vocab)


def join_postings(
    parts: list[tuple[sp.csr_matrix, list[str]]], keep: np.ndarray | None, new: tuple[sp.csr_matrix, list[str]]
) -> list[tuple[sp.csr_matrix, list[str]]]:
    """An older reader's term-frequency parts with only the rows `keep` marks (its rows in order), then the rows
    read since: the parts of the newer reader, joined into one when there would be more than MAX_POSTING_PARTS."""
    out, lo = [], 0
    for tf, terms in parts:
        hi = lo + tf.shape[0]
        mask = keep[lo:hi]
        kept = tf if mask.all() else tf[mask]
        if kept.shape[0]:
            out.append((kept, terms))
        lo = hi
    if new[0].shape[0] or not out:
        out.append(new)
    if len(out) <= MAX_POSTING_PARTS:
        return out
    tf, terms = stack_postings(out)
    tf.sort_indices()
    return [(tf, terms)]


class MilvusVersion(DocTable):
    """A version in Milvus (a collection at one generation): vectors and passages stay there; the row -> document
    arrays and BM25 are in memory. Rows of later generations and of documents deleted by this generation's
    manifest are invisible to it (every query carries `_live`), so a reader keeps its snapshot while writers add."""

    def __init__(
        self, client, collection: str, gen: int = 0, consistency: str = "Bounded", index_type: str = "FLAT",
        lexical: str = "auto", previous: MilvusVersion | None = None,
    ):
        self.collection, self.gen = collection, gen
        self.name = version_name(collection, gen)
        self._c = client
        self._docs = collection + DOCS_SUFFIX
        self._consistency = consistency
        self._index_type = index_type
        with _milvus_errors(f"index version {self.name} cannot be read", IndexCorruptError):
            for c in (collection, self._docs):
                client.load_collection(c)
            self.manifest = self._read_manifest()
            deleted = [int(k) for k in self.manifest.get("deleted", [])]
            self._live = f"gen <= {gen}" + (f" and doc_index not in {deleted}" if deleted else "")
            # BM25: in Milvus when this version was written with sparse vectors (and not turned off), else
            # rebuilt here from the stored tokens.
            self.lexical = mode = (
                SPARSE if self.manifest.get("lexical") == SPARSE and lexical != "process" else "in-process"
            )
            # An older generation of this collection already read in the same mode: only the documents, rows,
            # tokens and statistics written since are read; otherwise everything live.
            self.reused = previous is not None and previous.reusable_for(collection, gen, mode)
            base = previous if self.reused else None
            self._load_documents(base)
            keep, new_part = self._load_rows(base, with_tokens=mode != SPARSE)
            if mode == SPARSE:
                self._stats = (
                    base._stats.plus(read_term_stats(client, collection, gen, consistency, base.gen, True))
                    if base else read_term_stats(client, collection, gen, consistency)
                )
                self.bm25 = sparse_bm25.SparseBM25(self._stats, len(self.pk), self.sparse_search, self.sparse_rows)
        if mode != SPARSE:
            # Term frequencies kept per part (rows of the generations read together), so the next generation
            # adds its rows' and drops deleted ones' without reading these tokens again.
            self._postings = join_postings(base._postings if base else [], keep, new_part)
            self.bm25 = BM25Index.from_postings(self._postings)
        n = self.manifest["chunks"]
        if len(self.row_doc) != n or len(self.doc_ids) != self.manifest.get("n_documents", len(self.doc_ids)):
            raise IndexCorruptError(
                f"index version {self.name} is inconsistent: manifest {n} chunks, Milvus {len(self.row_doc)}; "
                "rebuild it"
            )

    def _query(self, collection: str, expr: str, fields: list[str], limit: int | None = None) -> list[dict]:
        kwargs = {"limit": limit} if limit is not None else {}
        return self._c.query(
            collection, filter=expr, output_fields=fields, consistency_level=self._consistency, **kwargs
        )

    def _scan(
        self, collection: str, key: str, total: int, fields: list[str], extra: str = "", page: int = BATCH,
        start: int = 0,
    ) -> Iterator[dict]:
        """All rows with key in start..total-1, in key order, a page at a time (servers cap one query's size)."""
        for lo in range(start, total, page):
            hi = min(lo + page, total)
            expr = f"{key} >= {lo} and {key} < {hi}" + (f" and {extra}" if extra else "")
            yield from sorted(self._query(collection, expr, fields, hi - lo), key=lambda r: r[key])

    def _read_manifest(self) -> dict:
        return self._read_manifest_of(self._c, self.collection, self.gen, self._consistency)

    @staticmethod
    def _read_manifest_of(client, collection: str, gen: int, consistency: str = "Strong") -> dict:
        name = version_name(collection, gen)
        parts = client.query(
            collection + DOCS_SUFFIX, filter=f"doc_index == -1 and gen == {gen}", output_fields=["part", "body"],
            limit=1000, consistency_level=consistency,
        )
        if not parts:
            raise IndexCorruptError(f"index version {name} has no manifest (half-written?)")
        try:
            manifest = json.loads("".join(p["body"] for p in sorted(parts, key=lambda p: p["part"])))
        except json.JSONDecodeError as exc:
            raise IndexCorruptError(f"index version {name} has a damaged manifest: {exc}") from exc
        if manifest.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(
                f"index version {name} has format {manifest.get('format')}, this program reads "
                f"{FORMAT_VERSION}; rebuild it"
            )
        return manifest

    def _load_documents(self, base: MilvusVersion | None = None) -> None:
        """Each live document's head (id, title, metadata, hash), in stored-number order. With `base` (an older
        generation of this collection): its documents less the newly deleted, plus those written since."""
        fields = ["doc_index", "doc_id", "title", "meta", "content_hash"]
        extra = f"part == 0 and doc_index >= 0 and {self._live}"
        first = base.manifest["doc_rows"] if base else 0
        heads = sorted(
            self._scan(self._docs, "pk", self.manifest["doc_rows"], fields, extra, start=first),
            key=lambda h: h["doc_index"],
        )
        ids, titles = [h["doc_id"] for h in heads], [h["title"] for h in heads]
        metas, hashes = [h["meta"] or {} for h in heads], [h["content_hash"] or "" for h in heads]
        keys = np.array([h["doc_index"] for h in heads], dtype=np.int64)
        if base is not None:  # its documents have lower stored numbers than any written since
            kept = np.flatnonzero(~np.isin(base.doc_keys, self.manifest.get("deleted", []))).tolist()
            ids = [base.doc_ids[i] for i in kept] + ids
            titles = [base.doc_titles[i] for i in kept] + titles
            metas = [base.doc_meta[i] for i in kept] + metas
            hashes = [base.doc_hash[i] for i in kept] + hashes
            keys = np.concatenate([base.doc_keys[kept], keys])
        self.doc_keys = keys  # stored number of each document, ascending
        self._index_of_key = {int(k): i for i, k in enumerate(self.doc_keys.tolist())}
        self.set_documents(ids, titles, metas, hashes)

    def _load_rows(
        self, base: MilvusVersion | None, with_tokens: bool
    ) -> tuple[np.ndarray | None, tuple[sp.csr_matrix, list[str]] | None]:
        """Stored key and document of every live row, held as compact arrays; with `base` (an older generation
        of this collection), its rows less the newly deleted documents' plus the rows written since (keys past
        its `next_row`), so a reader reloads in proportion to the change.

        Returns which of base's rows stay (None without base) and, `with_tokens`, the term frequencies of the
        rows read here (the in-process BM25; sparse BM25 needs no tokens)."""
        pks, row_keys = array("q"), array("q")
        counts = TermCounts() if with_tokens else None
        first = base.manifest.get("next_row", base.manifest["chunks"]) if base else 0
        total = self.manifest.get("next_row", self.manifest["chunks"])
        fields = ["row", "doc_index", "tokens"] if with_tokens else ["row", "doc_index"]
        page = BATCH if with_tokens else 16 * BATCH  # two numbers a row: larger pages, under the 16,384 cap
        for r in self._scan(self.collection, "row", total, fields, self._live, page, start=first):
            pks.append(r["row"])
            row_keys.append(r["doc_index"])
            if counts is not None:
                counts.add(r["tokens"])
        pk, keys, keep = np.frombuffer(pks, dtype=np.int64), np.frombuffer(row_keys, dtype=np.int64), None
        if base is not None:
            old_keys = base.doc_keys[base.row_doc]  # stored document number of each of its rows
            keep = np.isin(old_keys, self.doc_keys)
            pk, keys = np.concatenate([base.pk[keep], pk]), np.concatenate([old_keys[keep], keys])
        self.pk = pk.copy()  # stored primary key of each row, ascending
        row_doc = np.searchsorted(self.doc_keys, keys)
        if len(keys) and (row_doc.max() >= len(self.doc_keys) or (self.doc_keys[row_doc] != keys).any()):
            raise IndexCorruptError(f"index version {self.name} has rows of documents it does not list; rebuild it")
        self.row_doc = row_doc.astype(np.int32)
        return keep, counts.part() if counts is not None else None

    def reusable_for(self, collection: str, gen: int, lexical: str = SPARSE) -> bool:
        """A later generation of the same collection, read in the same lexical mode, can start from this one."""
        return self.collection == collection and self.gen < gen and self.lexical == lexical

    def _rows_of_pks(self, pks) -> np.ndarray:
        return np.searchsorted(self.pk, np.asarray(pks, dtype=np.int64)).astype(np.int64)

    def close(self) -> None:
        """Nothing to free here: the client is shared and the collections stay loaded for the next reader."""

    # -- lookups

    def _chunk(self, r: dict) -> Chunk:
        return make_chunk({**r, "doc_index": self._index_of_key[r["doc_index"]]}, self.doc_ids, self.doc_titles)

    def chunks_at(self, rows: list[int]) -> list[Chunk]:
        found: dict[int, dict] = {}
        wanted = self.pk[np.asarray(rows, dtype=np.int64)].tolist() if len(rows) else []
        with _milvus_errors("reading passages"):
            for lo in range(0, len(wanted), BATCH):
                page = wanted[lo : lo + BATCH]
                hits = self._query(self.collection, f"row in {page}", CHUNK_FIELDS, len(page))
                found.update((r["row"], r) for r in hits)
        return [self._chunk(found[r]) for r in wanted]

    def row_of(self, chunk_id: str) -> int | None:
        with _milvus_errors("looking up a passage"):
            expr = f"chunk_id == {json.dumps(chunk_id, ensure_ascii=False)} and {self._live}"
            hits = self._query(self.collection, expr, ["row"], 1)
        return int(self._rows_of_pks([hits[0]["row"]])[0]) if hits else None

    def vector(self, row: int) -> np.ndarray:
        with _milvus_errors("reading a vector"):
            hits = self._query(self.collection, f"row == {int(self.pk[int(row)])}", ["vector"], 1)
        return np.asarray(hits[0]["vector"], dtype=np.float32)

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        i = self.doc_index_of.get(doc_id)
        if i is None:
            return []
        chunks = self.chunks_at(np.flatnonzero(self.row_doc == i).tolist())
        return sorted(chunks, key=lambda c: c.ordinal)

    def document(self, doc_id: str) -> Document | None:
        i = self.doc_index_of.get(doc_id)
        if i is None:
            return None
        key = int(self.doc_keys[i])
        with _milvus_errors("reading a document"):
            parts = sorted(
                self._query(self._docs, f"doc_index == {key}", ["part", "body"], 16384), key=lambda p: p["part"]
            )
            head = self._query(self._docs, f"doc_index == {key} and part == 0", ["source_path", "content_hash"], 1)[0]
        return Document(
            doc_id=doc_id,
            title=self.doc_titles[i],
            text="".join(p["body"] for p in parts),
            source_path=head["source_path"],
            content_hash=head["content_hash"],
            meta=self.doc_meta[i],
        )

    def content(self) -> IndexContent:
        """Everything in this version, for a writer that derives the next version from it."""
        with _milvus_errors(f"reading index version {self.name}", IndexCorruptError):
            texts: dict[int, list[str]] = {}
            heads: dict[int, dict] = {}
            fields = ["doc_index", "part", "doc_id", "title", "source_path", "content_hash", "meta", "body"]
            live = f"doc_index >= 0 and {self._live}"
            for r in self._scan(self._docs, "pk", self.manifest["doc_rows"], fields, live):
                texts.setdefault(r["doc_index"], []).append(r["body"])  # pk order is part order
                if r["part"] == 0:
                    heads[r["doc_index"]] = r
            docs = [
                Document(
                    doc_id=h["doc_id"],
                    title=h["title"],
                    text="".join(texts[i]),
                    source_path=h["source_path"],
                    content_hash=h["content_hash"],
                    meta=h["meta"] or {},
                )
                for i, h in sorted(heads.items())
            ]
            chunks, tokens, vectors = [], [], []
            total = self.manifest.get("next_row", self.n_chunks)
            fields = [*CHUNK_FIELDS, "tokens", "vector"]
            for r in self._scan(self.collection, "row", total, fields, self._live):
                chunks.append(self._chunk(r))
                tokens.append(r["tokens"].split(" ") if r["tokens"] else [])
                vectors.append(r["vector"])
        dim = int(self.manifest["dim"])
        emb = np.asarray(vectors, dtype=np.float32).reshape(len(chunks), dim)
        return IndexContent(documents=docs, chunks=chunks, embeddings=emb, tokens=tokens)

    # -- search primitives

    def allowed_rows(
        self, doc_ids=(), year_from=None, year_to=None, doc_types=(), collections=None
    ) -> FilterMask | None:
        """The shared mask (one definition of what a filter keeps) plus the same filter for Milvus.

        A collection scope goes to Milvus as the documents it leaves visible, so Milvus ranks only those.
        """
        mask = DocTable.allowed_rows(self, doc_ids, year_from, year_to, doc_types, collections)
        if mask is None:
            return None
        out = mask.view(FilterMask)
        in_scope = access.doc_mask(self, collections)
        expr = filter_expr(doc_ids, year_from, year_to, doc_types)
        if in_scope is not None:
            scoped = f"doc_index in {self.doc_keys[np.flatnonzero(in_scope)].tolist()}"
            expr = f"({expr}) and {scoped}" if expr else scoped
        out.expr = expr
        return out

    def _expr(self, allowed: np.ndarray | None) -> str:
        """This snapshot's rows, and the filter's (a plain mask, not from allowed_rows, is sent as its rows)."""
        expr = ""
        if allowed is not None:
            expr = getattr(allowed, "expr", "") or f"row in {self.pk[np.flatnonzero(allowed)].tolist()}"
        return f"{self._live} and ({expr})" if expr else self._live

    def sparse_search(self, query: dict[int, float], n: int, allowed: np.ndarray | None):
        """Top-n (rows, inner products) of a sparse query over the rows' BM25 vectors, filtered in Milvus."""
        with _milvus_errors("lexical search"):
            hits = self._c.search(
                self.collection, data=[query], anns_field="sparse", limit=n, filter=self._expr(allowed),
                search_params=sparse_bm25.SEARCH_PARAMS, output_fields=["row"],
                consistency_level=self._consistency,
            )[0]
        rows = self._rows_of_pks([h["entity"]["row"] for h in hits])
        return rows, np.array([h["distance"] for h in hits], dtype=np.float32)

    def sparse_rows(self, rows: list[int]) -> list[tuple[int, int, dict]]:
        """(generation, token count, stored BM25 vector) of each row, in the order given."""
        wanted = self.pk[np.asarray(rows, dtype=np.int64)].tolist()
        found: dict[int, dict] = {}
        with _milvus_errors("reading BM25 vectors"):
            for lo in range(0, len(wanted), BATCH):
                page = wanted[lo : lo + BATCH]
                for r in self._query(self.collection, f"row in {page}", ["row", "gen", "length", "sparse"], len(page)):
                    found[r["row"]] = r
        return [(int(found[k]["gen"]), int(found[k]["length"]), found[k]["sparse"]) for k in wanted]

    def dense(self, qvec: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-n rows by inner product (cosine: vectors are normalised), filtered inside Milvus."""
        n = min(n, self.n_chunks)
        if allowed is not None:
            n = min(n, int(np.count_nonzero(allowed)))
        expr = self._expr(allowed)
        if n == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        with _milvus_errors("dense search"):
            hits = self._c.search(
                self.collection,
                data=[np.asarray(qvec, dtype=np.float32).ravel().tolist()],
                anns_field="vector",
                limit=n,
                filter=expr,
                search_params=_search_params(self._index_type, n),
                output_fields=["row"],
                consistency_level=self._consistency,
            )[0]
        rows = self._rows_of_pks([h["entity"]["row"] for h in hits])
        return rows, np.array([h["distance"] for h in hits], dtype=np.float32)


# ---------------------------------------------------------------- writing


class MilvusStore:
    """Versions as Milvus collections behind one alias (see the module docstring); implements IndexStore."""

    # Sentence vectors (IndexContent.extras) are refused: the pipeline does not compute them for this store,
    # and queries without Chinese mark their best sentence by embedding it at query time instead.
    stores_sentences = False

    def __init__(
        self,
        uri: str,
        collection: str = "policy_search",
        token: str | None = None,
        keep_versions: int = 3,
        index_type: str = "FLAT",
        consistency: str = "Bounded",
        lock_dir: Path | None = None,
        lexical: str = "auto",
    ):
        if not _NAME_RE.match(collection):
            raise SearchEngineError(f"milvus_collection must be letters, digits and _, got {collection!r}")
        if index_type.upper() not in INDEX_TYPES:
            raise SearchEngineError(f"milvus_index must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
        if lexical not in LEXICAL_MODES:
            raise SearchEngineError(f"milvus_lexical must be one of {', '.join(LEXICAL_MODES)}, got {lexical!r}")
        self.lexical = lexical
        self.uri = uri
        self.alias = collection
        self.token = token
        self.keep_versions = keep_versions
        self.index_type = index_type.upper()
        self.consistency = consistency
        # A lock file serialises writers on this machine; on a shared cluster run one indexer at a time.
        default_dir = Path(uri).parent if is_local(uri) else Path(".")
        self._lock_path = (lock_dir or default_dir) / f".milvus-{collection}.lock"
        self._caps: ServerCaps | None = None
        self._loaded: set[str] = set()  # collections whose documents this store has loaded
        self._last: MilvusVersion | None = None  # the version open_current gave last
        self._version_re = re.compile(rf"^{re.escape(collection)}_v(\d{{6}})_\d{{8}}_\d{{6}}$")

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusStore:
        uri = settings.milvus_uri or ""
        return cls(
            uri,
            settings.milvus_collection,
            settings.milvus_token,
            settings.keep_versions,
            settings.milvus_index,
            settings.milvus_consistency,
            lock_dir=Path(uri).parent if is_local(uri) else settings.index_dir,
            lexical=settings.milvus_lexical,
        )

    @property
    def client(self):
        return client_for(self.uri, self.token)

    # -- IndexStore

    def lock(self) -> contextlib.AbstractContextManager:
        return file_lock(self._lock_path, self.remove_leftovers)

    @property
    def caps(self) -> ServerCaps:
        """The server's capabilities, asked once per store (by version: see ServerCaps)."""
        if self._caps is None:
            with _milvus_errors("asking the server version"):
                self._caps = ServerCaps.from_version(str(self.client.get_server_version()))
        return self._caps

    def _target(self) -> str | None:
        """The collection the alias points at (None: no index yet)."""
        with _milvus_errors("reading the alias"):
            if self.alias not in self.client.list_aliases().get("aliases", []):
                return None
            return self.client.describe_alias(self.alias)["collection_name"]

    def _live_gen(self, collection: str) -> int:
        """The newest published generation of a collection (its highest manifest)."""
        with _milvus_errors("reading the manifests"):
            if collection not in self._loaded:  # a Lite file opened by a new process has its collections released
                self.client.load_collection(collection + DOCS_SUFFIX)
                self._loaded.add(collection)
            heads = self.client.query(
                collection + DOCS_SUFFIX, filter="doc_index == -1 and part == 0", output_fields=["gen"],
                limit=16384, consistency_level="Strong",
            )
        return max((int(h["gen"]) for h in heads), default=0)

    def current_name(self) -> str | None:
        target = self._target()
        return None if target is None else version_name(target, self._live_gen(target))

    def open_current(self) -> MilvusVersion:
        name = self.current_name()
        if name is None:
            raise IndexNotFoundError(
                f"no index in Milvus {self.uri} (alias {self.alias}): build one with `python -m indexer build` "
                "or copy the FAISS index with `python -m indexer migrate-to-milvus`"
            )
        collection, gen = split_name(name)
        last = self._last
        version = MilvusVersion(
            self.client, collection, gen, self.consistency, self.index_type, self.lexical, previous=last
        )
        self._last = version  # the next generation starts from this one (see MilvusVersion.reusable_for)
        return version

    @property
    def sparse(self) -> bool:
        """New versions keep BM25 in Milvus as sparse vectors (the server has them and it is not turned off)."""
        return self.lexical == "auto" and self.caps.sparse

    def write(self, content: IndexContent, manifest: dict) -> str:
        n = len(content.chunks)
        dim = int(manifest["dim"])
        content.check(dim)
        _check_chunks(content)
        name = self._next_name()
        docs_name = name + DOCS_SUFFIX
        doc_rows = _doc_rows(content.documents, pk0=0, doc0=0, gen=0)
        full = {k: manifest[k] for k in (*MANIFEST_KEYS, "migrated_from") if k in manifest}
        full["sentence_vectors"] = "off"  # refused here (stores_sentences): marks embed at query time instead
        full.update(
            format=FORMAT_VERSION,
            backend="milvus",
            name=name,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            chunks=n,
            n_documents=len(content.documents),
            vector_index={"type": self.index_type.lower(), "metric": "IP", **_vector_index_params(self.index_type)},
            gen=0,
            next_row=n,
            next_doc=len(content.documents),
            deleted=[],
        )
        sparse = self.sparse
        full["lexical"] = SPARSE if sparse else "in-process"
        stats = None
        if sparse:
            stats = sparse_bm25.TermStats()
            delta = stats.change(content.tokens, [])
            doc_rows += sparse_bm25.delta_rows(delta, len(doc_rows), 0, PART_CHARS, _EMPTY_DOC)
        full["doc_rows"] = len(doc_rows)  # documents are pk 0..doc_rows-1; the manifest's parts follow
        manifest_rows = _manifest_rows(full, first_pk=len(doc_rows), gen=0)
        full["doc_rows"] += len(manifest_rows)  # the next write's rows start after them
        doc_rows += _manifest_rows(full, first_pk=len(doc_rows), gen=0)
        c = self.client
        try:
            with _milvus_errors(f"writing index version {name}"):
                c.create_collection(name, schema=_chunk_schema(dim, sparse), consistency_level=self.consistency)
                self._insert_chunks(name, content, 0, 0, 0, stats)
                c.create_collection(docs_name, schema=_docs_schema(), consistency_level=self.consistency)
                self._insert(docs_name, doc_rows, None)
                for collection, expected in ((name, n), (docs_name, len(doc_rows))):
                    # Bulk-load order: flush, then index the sealed data once, then load.
                    c.flush(collection)
                    c.create_index(collection, self._index_params(collection, sparse), sync=not is_local(self.uri))
                    c.load_collection(collection)
                    got = c.query(collection, filter="", output_fields=["count(*)"], consistency_level="Strong")
                    if got[0]["count(*)"] != expected:
                        raise SearchEngineError(f"{collection} holds {got[0]['count(*)']} rows, expected {expected}")
        except BaseException:
            self._drop(name)
            raise
        with _milvus_errors(f"switching alias {self.alias} to {name}"):
            if self.current_name() is None:
                c.create_alias(name, self.alias)
            else:
                c.alter_alias(name, self.alias)
        self._prune()
        return name

    def add(self, content: IndexContent, manifest: dict, replace: tuple[str, ...] = ()) -> str:
        """Insert `content` into the live collection as the next generation and mark the documents `replace`
        names deleted in its manifest (nothing else is rewritten); the first write creates the collection."""
        name = self.current_name()
        if name is None:
            return self.write(content, manifest)
        collection, gen = split_name(name)
        m = self._manifest(collection, gen)
        content.check(int(m["dim"]))
        _check_chunks(content)
        keys, gone_rows = self._doc_keys(collection, m, replace)
        nxt = dict(m, gen=gen + 1, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        nxt.update(
            chunks=m["chunks"] - gone_rows + len(content.chunks),
            n_documents=m["n_documents"] - len(keys) + len(content.documents),
            next_row=m["next_row"] + len(content.chunks),
            next_doc=m["next_doc"] + len(content.documents),
            deleted=sorted(set(m.get("deleted", [])) | set(keys)),
        )
        doc_rows = _doc_rows(content.documents, m["doc_rows"], m["next_doc"], gen + 1)
        with _milvus_errors(f"adding to {collection}"):
            stats = None
            if m.get("lexical") == SPARSE:
                stats = read_term_stats(self.client, collection, gen)
                delta = stats.change(content.tokens, self._tokens_of(collection, keys))
                first = m["doc_rows"] + len(doc_rows)
                doc_rows += sparse_bm25.delta_rows(delta, first, gen + 1, PART_CHARS, _EMPTY_DOC)
            self._insert_chunks(collection, content, m["next_row"], m["next_doc"], gen + 1, stats)
            self.client.flush(collection)
            return self._publish(collection, nxt, doc_rows)

    def delete(self, doc_ids: tuple[str, ...]) -> str:
        """Mark documents deleted in a new generation's manifest (their rows stay until `optimize`)."""
        name = self.current_name()
        if name is None:
            raise IndexNotFoundError(f"no index in Milvus {self.uri} (alias {self.alias})")
        collection, gen = split_name(name)
        m = self._manifest(collection, gen)
        keys, gone_rows = self._doc_keys(collection, m, doc_ids)
        if not keys:
            return name
        nxt = dict(m, gen=gen + 1, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        nxt.update(chunks=m["chunks"] - gone_rows, n_documents=m["n_documents"] - len(keys),
                   deleted=sorted(set(m.get("deleted", [])) | set(keys)))
        with _milvus_errors(f"deleting from {collection}"):
            rows = []
            if m.get("lexical") == SPARSE:  # the statistics lose the removed rows' terms
                stats = read_term_stats(self.client, collection, gen)
                delta = stats.change([], self._tokens_of(collection, keys))
                rows = sparse_bm25.delta_rows(delta, m["doc_rows"], gen + 1, PART_CHARS, _EMPTY_DOC)
            return self._publish(collection, nxt, rows)

    def _tokens_of(self, collection: str, keys: list[int]) -> list[list[str]]:
        """The BM25 tokens of the rows of these stored documents (a writer updating the statistics)."""
        out = []
        for key in keys:
            rows = self.client.query(collection, filter=f"doc_index == {int(key)}", output_fields=["tokens"],
                                     limit=16384, consistency_level="Strong")
            out += [r["tokens"].split(" ") if r["tokens"] else [] for r in rows]
        return out

    def optimize(self) -> str:
        """Delete the rows of deleted documents for good and ask Milvus to compact (same search results)."""
        name = self.open_current().name
        collection, gen = split_name(name)
        deleted = self._manifest(collection, gen).get("deleted", [])
        with _milvus_errors("compacting"):
            for c in (collection, collection + DOCS_SUFFIX):
                if deleted:
                    self.client.delete(c, filter=f"doc_index in {deleted}")
                self.client.flush(c)
                self.client.compact(c)
        return name

    def _manifest(self, collection: str, gen: int) -> dict:
        return MilvusVersion._read_manifest_of(self.client, collection, gen)

    def _doc_keys(self, collection: str, m: dict, doc_ids) -> tuple[list[int], int]:
        """Stored numbers of the live documents among `doc_ids`, and how many rows they hold."""
        if not doc_ids:
            return [], 0
        live = f"gen <= {m['gen']}" + (f" and doc_index not in {m['deleted']}" if m.get("deleted") else "")
        expr = f"doc_id in {_str_list(doc_ids)} and part == 0 and doc_index >= 0 and {live}"
        with _milvus_errors("looking up documents"):
            heads = self.client.query(collection + DOCS_SUFFIX, filter=expr, output_fields=["doc_index"],
                                      limit=16384, consistency_level="Strong")
            keys = sorted(int(h["doc_index"]) for h in heads)
            if not keys:
                return [], 0
            got = self.client.query(collection, filter=f"doc_index in {keys}", output_fields=["count(*)"],
                                    consistency_level="Strong")
        return keys, int(got[0]["count(*)"])

    def _publish(self, collection: str, manifest: dict, doc_rows: list[dict]) -> str:
        """Insert the documents and then the new generation's manifest rows (publishing is that last insert)."""
        docs = collection + DOCS_SUFFIX
        first = manifest["doc_rows"] + len(doc_rows)
        rows = _manifest_rows(manifest, first_pk=first, gen=manifest["gen"])
        manifest["doc_rows"] = first + len(rows)
        rows = _manifest_rows(manifest, first_pk=first, gen=manifest["gen"])
        if doc_rows:
            self._insert(docs, doc_rows, None)
            self.client.flush(docs)
        self._insert(docs, rows, None)
        self.client.flush(docs)
        return version_name(collection, manifest["gen"])

    def stats(self) -> dict:
        return {
            "backend": "milvus",
            "server": self.caps.version,
            "scalar_index": self.caps.scalar_index(True),
            "sparse_vectors": self.caps.sparse,
            "lexical_mode": SPARSE if self.sparse else "in-process",
            "lexical": LEXICAL_WORDS[SPARSE if self.sparse else "in-process"],
        }

    # -- helpers

    def _versions(self) -> list[tuple[int, str]]:
        with _milvus_errors("listing collections"):
            names = self.client.list_collections()
        found = [(int(m.group(1)), n) for n in names if (m := self._version_re.match(n))]
        return sorted(found)

    def _next_name(self) -> str:
        seq = max((s for s, _ in self._versions()), default=0) + 1
        return f"{self.alias}_v{seq:06d}_" + time.strftime("%Y%m%d_%H%M%S")

    def _index_params(self, collection: str, sparse: bool = False):
        """Chunks: the configured vector index (metric IP) and INVERTED indexes on the fields filters and lookups
        use; documents: an exact index on the placeholder vector (a collection needs one to load)."""
        params = self.client.prepare_index_params()
        if collection.endswith(DOCS_SUFFIX):
            params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
            scalars = ["doc_index"]
        else:
            kind = self.index_type
            params.add_index(field_name="vector", index_type=kind, metric_type="IP", params=_vector_index_params(kind))
            scalars = ["chunk_id", "doc_id", "doc_type", "doc_index", "year", "gen"]
            if sparse:
                params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP",
                                 params=sparse_bm25.INDEX_PARAMS)
        for f in scalars:
            params.add_index(field_name=f, index_type=self.caps.scalar_index(f in _TEXT_FIELDS))
        return params

    def _insert_chunks(
        self, name: str, content: IndexContent, row0: int, doc0: int, gen: int, stats=None
    ) -> None:
        """Insert the chunk rows of `content` (with their BM25 sparse vectors when `stats` is given), built a page
        at a time: a large build never holds every row as a Milvus dict beside the content itself."""
        for lo in range(0, len(content.chunks), INSERT_BATCH):
            hi = min(lo + INSERT_BATCH, len(content.chunks))
            page = _chunk_rows(content, row0, doc0, gen, lo, hi)
            if stats is not None:
                _add_sparse(page, stats.weights(content.tokens[lo:hi]), content.tokens[lo:hi])
            self._insert(name, page, content.embeddings[lo:hi], batch=INSERT_BATCH)

    def _insert(self, name: str, rows: list[dict], vectors: np.ndarray | None, batch: int = BATCH) -> None:
        for lo in range(0, len(rows), batch):
            page = rows[lo : lo + batch]
            if vectors is not None:
                for r, v in zip(page, np.asarray(vectors[lo : lo + batch], dtype=np.float32)):
                    r["vector"] = v
            self.client.insert(name, page)

    def _drop(self, name: str) -> None:
        for collection in (name, name + DOCS_SUFFIX):
            with contextlib.suppress(Exception):
                if self.client.has_collection(collection):
                    self.client.drop_collection(collection)

    def _prune(self) -> None:
        """Drop versions beyond keep_versions (never the live one)."""
        current = self._target()
        versions = [n for _, n in self._versions()]
        for old in versions[: max(0, len(versions) - max(self.keep_versions, 1))]:
            if old != current:
                self._drop(old)

    def _drop_unpublished(self, collection: str) -> None:
        """Rows a killed incremental writer inserted past the live generation (readers never saw them)."""
        gen = self._live_gen(collection)
        with _milvus_errors("removing an unfinished write"):
            for c in (collection, collection + DOCS_SUFFIX):
                self.client.delete(c, filter=f"gen > {gen}")

    def remove_leftovers(self) -> list[str]:
        """Drop what a killed writer left: versions newer than the live one (never switched to), lone _docs."""
        current = self._target()
        live_seq = int(self._version_re.match(current).group(1)) if current else 0
        removed = [n for s, n in self._versions() if s > live_seq]
        if current:
            self._drop_unpublished(current)
        with _milvus_errors("listing collections"):
            names = set(self.client.list_collections())
        lone_docs = [n.removesuffix(DOCS_SUFFIX) for n in names if n.endswith(DOCS_SUFFIX)]
        removed += [n for n in lone_docs if self._version_re.match(n) and n not in names]
        for name in removed:
            self._drop(name)
        return removed


def _split(text: str) -> list[str]:
    return [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


def _check_len(value: str, what: str) -> str:
    if len(value) * 4 > MAX_VARCHAR and len(value.encode("utf-8")) > MAX_VARCHAR:  # 4: the most bytes a char takes
        raise SearchEngineError(f"{what} is over Milvus's {MAX_VARCHAR}-byte VARCHAR limit; lower chunk_max_chars")
    return value


def _check_chunks(content: IndexContent) -> None:
    """Refuse, before anything is written, a chunk whose text, heading or tokens would not fit a VARCHAR."""
    for c, toks in zip(content.chunks, content.tokens):
        _check_len(json.dumps(c.heading_path, ensure_ascii=False), f"{c.chunk_id} heading")
        _check_len(c.text, f"{c.chunk_id} text")
        _check_len(" ".join(toks), f"{c.chunk_id} tokens")


def _chunk_rows(
    content: IndexContent, row0: int, doc0: int, gen: int, lo: int = 0, hi: int | None = None
) -> list[dict]:
    """The Milvus rows of content's chunks lo..hi-1 (all by default); chunk i is row row0 + i."""
    doc_index = {d.doc_id: doc0 + i for i, d in enumerate(content.documents)}
    meta = {d.doc_id: d.meta for d in content.documents}
    rows = []
    pairs = zip(content.chunks[lo:hi], content.tokens[lo:hi])
    for row, (c, toks) in enumerate(pairs, start=row0 + lo):
        m = meta[c.doc_id]
        rows.append(
            {
                "row": row,
                "gen": gen,
                "chunk_id": c.chunk_id,
                "doc_index": doc_index[c.doc_id],
                "doc_id": c.doc_id,
                "year": _year(m.get("year")),
                "doc_type": str(m.get("type") or ""),
                "ordinal": c.ordinal,
                "heading_path": json.dumps(c.heading_path, ensure_ascii=False),
                "text": c.text,
                "start": c.start,
                "end": c.end,
                "page": -1 if c.page is None else c.page,
                "tokens": " ".join(toks),
            }
        )
    return rows


_PLACEHOLDER = [1.0, 0.0]
_EMPTY_DOC = {"doc_id": "", "title": "", "source_path": "", "content_hash": "", "meta": {}, "vector": _PLACEHOLDER}


def _add_sparse(chunk_rows: list[dict], weights: list[dict], tokens: list[list[str]]) -> None:
    """Give chunk rows their BM25 sparse vector and token count (versions written with sparse vectors)."""
    for r, w, t in zip(chunk_rows, weights, tokens):
        r["sparse"], r["length"] = w, len(t)


def _doc_rows(documents: list[Document], pk0: int, doc0: int, gen: int) -> list[dict]:
    rows = []
    for i, d in enumerate(documents, start=doc0):
        for part, body in enumerate(_split(d.text)):
            head = part == 0
            rows.append(
                {
                    "pk": pk0 + len(rows),
                    "gen": gen,
                    "doc_index": i,
                    "part": part,
                    "doc_id": d.doc_id,
                    "title": d.title if head else "",
                    "source_path": d.source_path if head else "",
                    "content_hash": d.content_hash if head else "",
                    "meta": d.meta if head else {},
                    "body": body,
                    "vector": _PLACEHOLDER,
                }
            )
    return rows


def _manifest_rows(manifest: dict, first_pk: int, gen: int) -> list[dict]:
    text = json.dumps(manifest, ensure_ascii=False)
    return [
        {
            "pk": first_pk + part,
            "gen": gen,
            "doc_index": -1,
            "part": part,
            "doc_id": "",
            "title": "",
            "source_path": "",
            "content_hash": "",
            "meta": {},
            "body": body,
            "vector": _PLACEHOLDER,
        }
        for part, body in enumerate(_split(text))
    ]


# ---------------------------------------------------------------- migration


def migrate_from_faiss(index_dir: Path, target: MilvusStore) -> tuple[str, int, int]:
    """Copy the live FAISS version (documents, chunks, vectors, tokens, manifest) into Milvus, no re-embedding.

    Returns (Milvus version name, documents, chunks). Vectors come from the FAISS index itself (exact float32)
    where it can give them back, else from the version's float16 copy.
    """
    from indexer.store import open_current

    source = open_current(index_dir)  # a segmented or a pre-segment folder
    try:
        content = source.content()
        with contextlib.suppress(RuntimeError, AttributeError, ValueError):  # segments give exact vectors already
            if source.n_chunks:
                content.embeddings = source.faiss.reconstruct_n(0, source.n_chunks).astype(np.float32)
        manifest = dict(source.manifest, migrated_from=source.name)
    finally:
        source.close()
    with target.lock():
        name = target.write(content, manifest)
    return name, len(content.documents), len(content.chunks)
