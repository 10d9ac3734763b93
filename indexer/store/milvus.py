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
import re
import time
from pathlib import Path

import numpy as np

from indexer.config import Settings
from indexer.errors import IndexNotFoundError, SearchEngineError
from indexer.store import milvus_rows
from indexer.store import milvus_sparse as sparse_bm25
from indexer.store.core import FORMAT_VERSION, IndexContent, carried_manifest, file_lock
from indexer.store.milvus_client import (
    BATCH,
    DOCS_SUFFIX,
    INDEX_TYPES,
    INSERT_BATCH,
    LEXICAL_MODES,
    LEXICAL_WORDS,
    NAME_RE,
    PART_CHARS,
    SPARSE,
    TEXT_FIELDS,
    ServerCaps,
    client_for,
    is_local,
    milvus_errors,
    split_name,
    str_list,
    vector_index_params,
    version_name,
)
from indexer.store.milvus_postings import read_term_stats
from indexer.store.milvus_reader import MilvusVersion


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
        if not NAME_RE.match(collection):
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
            with milvus_errors("asking the server version"):
                self._caps = ServerCaps.from_version(str(self.client.get_server_version()))
        return self._caps

    def _target(self) -> str | None:
        """The collection the alias points at (None: no index yet)."""
        with milvus_errors("reading the alias"):
            if self.alias not in self.client.list_aliases().get("aliases", []):
                return None
            return self.client.describe_alias(self.alias)["collection_name"]

    def _live_gen(self, collection: str) -> int:
        """The newest published generation of a collection (its highest manifest)."""
        with milvus_errors("reading the manifests"):
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
        milvus_rows.check_chunks(content)
        name = self._next_name()
        docs_name = name + DOCS_SUFFIX
        doc_rows = milvus_rows.doc_rows(content.documents, pk0=0, doc0=0, gen=0)
        full = carried_manifest(manifest)
        full["sentence_vectors"] = "off"  # refused here (stores_sentences): marks embed at query time instead
        full.update(
            format=FORMAT_VERSION,
            backend="milvus",
            name=name,
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            chunks=n,
            n_documents=len(content.documents),
            vector_index={"type": self.index_type.lower(), "metric": "IP", **vector_index_params(self.index_type)},
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
            doc_rows += sparse_bm25.delta_rows(delta, len(doc_rows), 0, PART_CHARS, milvus_rows.EMPTY_DOC)
        full["doc_rows"] = len(doc_rows)  # documents are pk 0..doc_rows-1; the manifest's parts follow
        manifest_rows = milvus_rows.manifest_rows(full, first_pk=len(doc_rows), gen=0)
        full["doc_rows"] += len(manifest_rows)  # the next write's rows start after them
        doc_rows += milvus_rows.manifest_rows(full, first_pk=len(doc_rows), gen=0)
        c = self.client
        try:
            with milvus_errors(f"writing index version {name}"):
                schema = milvus_rows.chunk_schema(dim, sparse)
                c.create_collection(name, schema=schema, consistency_level=self.consistency)
                self._insert_chunks(name, content, 0, 0, 0, stats)
                c.create_collection(docs_name, schema=milvus_rows.docs_schema(), consistency_level=self.consistency)
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
        with milvus_errors(f"switching alias {self.alias} to {name}"):
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
        milvus_rows.check_chunks(content)
        keys, gone_rows = self._doc_keys(collection, m, replace)
        nxt = dict(m, gen=gen + 1, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        nxt.update(
            chunks=m["chunks"] - gone_rows + len(content.chunks),
            n_documents=m["n_documents"] - len(keys) + len(content.documents),
            next_row=m["next_row"] + len(content.chunks),
            next_doc=m["next_doc"] + len(content.documents),
            deleted=sorted(set(m.get("deleted", [])) | set(keys)),
        )
        doc_rows = milvus_rows.doc_rows(content.documents, m["doc_rows"], m["next_doc"], gen + 1)
        with milvus_errors(f"adding to {collection}"):
            stats = None
            if m.get("lexical") == SPARSE:
                stats = read_term_stats(self.client, collection, gen)
                delta = stats.change(content.tokens, self._tokens_of(collection, keys))
                first = m["doc_rows"] + len(doc_rows)
                doc_rows += sparse_bm25.delta_rows(delta, first, gen + 1, PART_CHARS, milvus_rows.EMPTY_DOC)
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
        with milvus_errors(f"deleting from {collection}"):
            rows = []
            if m.get("lexical") == SPARSE:  # the statistics lose the removed rows' terms
                stats = read_term_stats(self.client, collection, gen)
                delta = stats.change([], self._tokens_of(collection, keys))
                rows = sparse_bm25.delta_rows(delta, m["doc_rows"], gen + 1, PART_CHARS, milvus_rows.EMPTY_DOC)
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
        with milvus_errors("compacting"):
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
        expr = f"doc_id in {str_list(doc_ids)} and part == 0 and doc_index >= 0 and {live}"
        with milvus_errors("looking up documents"):
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
        rows = milvus_rows.manifest_rows(manifest, first_pk=first, gen=manifest["gen"])
        manifest["doc_rows"] = first + len(rows)
        rows = milvus_rows.manifest_rows(manifest, first_pk=first, gen=manifest["gen"])
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
        with milvus_errors("listing collections"):
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
            params.add_index(field_name="vector", index_type=kind, metric_type="IP", params=vector_index_params(kind))
            scalars = ["chunk_id", "doc_id", "doc_type", "doc_index", "year", "gen"]
            if sparse:
                params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP",
                                 params=sparse_bm25.INDEX_PARAMS)
        for f in scalars:
            params.add_index(field_name=f, index_type=self.caps.scalar_index(f in TEXT_FIELDS))
        return params

    def _insert_chunks(
        self, name: str, content: IndexContent, row0: int, doc0: int, gen: int, stats=None
    ) -> None:
        """Insert the chunk rows of `content` (with their BM25 sparse vectors when `stats` is given), built a page
        at a time: a large build never holds every row as a Milvus dict beside the content itself."""
        for lo in range(0, len(content.chunks), INSERT_BATCH):
            hi = min(lo + INSERT_BATCH, len(content.chunks))
            page = milvus_rows.chunk_rows(content, row0, doc0, gen, lo, hi)
            if stats is not None:
                milvus_rows.add_sparse(page, stats.weights(content.tokens[lo:hi]), content.tokens[lo:hi])
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
        with milvus_errors("removing an unfinished write"):
            for c in (collection, collection + DOCS_SUFFIX):
                self.client.delete(c, filter=f"gen > {gen}")

    def remove_leftovers(self) -> list[str]:
        """Drop what a killed writer left: versions newer than the live one (never switched to), lone _docs."""
        current = self._target()
        live_seq = int(self._version_re.match(current).group(1)) if current else 0
        removed = [n for s, n in self._versions() if s > live_seq]
        if current:
            self._drop_unpublished(current)
        with milvus_errors("listing collections"):
            names = set(self.client.list_collections())
        lone_docs = [n.removesuffix(DOCS_SUFFIX) for n in names if n.endswith(DOCS_SUFFIX)]
        removed += [n for n in lone_docs if self._version_re.match(n) and n not in names]
        for name in removed:
            self._drop(name)
        return removed


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
