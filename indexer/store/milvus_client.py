"""Talking to Milvus: one client per URI, its errors as the engine's, what a server can do, filter expressions,
and the names of index versions. Shared by the reader (milvus_reader.py) and the writer (milvus.py)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.errors import SearchEngineError

DOCS_SUFFIX = "_docs"
MAX_VARCHAR = 65535  # bytes, Milvus's limit for one VARCHAR value
PART_CHARS = 16000  # a document's text is stored in parts of this many characters (<= 4 bytes each)
BATCH = 1000  # rows per query page
INSERT_BATCH = 4000  # chunk rows built and inserted at a time (a few MB per request; a build holds one page of rows)
CHUNK_FIELDS = ["row", "chunk_id", "doc_index", "ordinal", "heading_path", "text", "start", "end", "page"]
INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")
TEXT_FIELDS = ("chunk_id", "doc_id", "doc_type")
LEXICAL_MODES = ("auto", "process")  # auto: sparse vectors in Milvus where the server has them
SPARSE = "milvus-sparse"  # manifest["lexical"] of a version whose rows carry BM25 sparse vectors
LEXICAL_WORDS = {
    SPARSE: "BM25 in Milvus: sparse vectors of term saturations per passage, idf at query time (index-wide "
    "statistics); serving processes hold the vocabulary only",
    "in-process": "in-process BM25 from the stored tokens (index-wide statistics)",
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")

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
def milvus_errors(what: str, error: type[SearchEngineError] = SearchEngineError) -> Iterator[None]:
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
        parts.append(f"doc_id in {str_list(doc_ids)}")
    if year_from:
        parts.append(f"year >= {int(year_from)}")
    if year_to:
        parts.append(f"(year <= {int(year_to)} and year > 0)")
    if doc_types:
        parts.append(f"doc_type in {str_list(doc_types)}")
    return " and ".join(parts)


def str_list(values) -> str:
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


def year_of(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def vector_index_params(index_type: str) -> dict:
    return {"HNSW": {"M": 16, "efConstruction": 200}, "IVF_FLAT": {"nlist": 128}}.get(index_type, {})


def search_params(index_type: str, n: int) -> dict:
    params = {"HNSW": {"ef": max(64, n)}, "IVF_FLAT": {"nprobe": 16}}.get(index_type, {})
    return {"metric_type": "IP", "params": params}


def version_name(collection: str, gen: int) -> str:
    """A version's name: its collection, plus the generation of incremental writes on it."""
    return collection if gen == 0 else f"{collection}@g{gen}"


def split_name(name: str) -> tuple[str, int]:
    collection, _, gen = name.partition("@g")
    return collection, int(gen or 0)
