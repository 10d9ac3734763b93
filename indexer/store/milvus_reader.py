"""Reading a version stored in Milvus (MilvusVersion): passages and vectors stay in the server, documents,
row arrays and BM25 are held in memory. Written by MilvusStore (milvus.py); see that module for the layout."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from indexer import access
from indexer.errors import IndexCorruptError
from indexer.lexical import BM25Index
from indexer.models import Chunk, Document
from indexer.store import milvus_sparse as sparse_bm25
from indexer.store.core import FORMAT_VERSION, DocTable, IndexContent, make_chunk
from indexer.store.milvus_client import (
    BATCH,
    CHUNK_FIELDS,
    DOCS_SUFFIX,
    SPARSE,
    FilterMask,
    filter_expr,
    milvus_errors,
    search_params,
    version_name,
)
from indexer.store.milvus_postings import TermCounts, join_postings, read_term_stats


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
        with milvus_errors(f"index version {self.name} cannot be read", IndexCorruptError):
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
        with milvus_errors("reading passages"):
            for lo in range(0, len(wanted), BATCH):
                page = wanted[lo : lo + BATCH]
                hits = self._query(self.collection, f"row in {page}", CHUNK_FIELDS, len(page))
                found.update((r["row"], r) for r in hits)
        return [self._chunk(found[r]) for r in wanted]

    def row_of(self, chunk_id: str) -> int | None:
        with milvus_errors("looking up a passage"):
            expr = f"chunk_id == {json.dumps(chunk_id, ensure_ascii=False)} and {self._live}"
            hits = self._query(self.collection, expr, ["row"], 1)
        return int(self._rows_of_pks([hits[0]["row"]])[0]) if hits else None

    def vector(self, row: int) -> np.ndarray:
        with milvus_errors("reading a vector"):
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
        with milvus_errors("reading a document"):
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
        with milvus_errors(f"reading index version {self.name}", IndexCorruptError):
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
        with milvus_errors("lexical search"):
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
        with milvus_errors("reading BM25 vectors"):
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
        with milvus_errors("dense search"):
            hits = self._c.search(
                self.collection,
                data=[np.asarray(qvec, dtype=np.float32).ravel().tolist()],
                anns_field="vector",
                limit=n,
                filter=expr,
                search_params=search_params(self._index_type, n),
                output_fields=["row"],
                consistency_level=self._consistency,
            )[0]
        rows = self._rows_of_pks([h["entity"]["row"] for h in hits])
        return rows, np.array([h["distance"] for h in hits], dtype=np.float32)
