"""The index store: one contract (protocol.py), one shared core (core.py), two backends.

- FAISS + SQLite segments under a folder (faiss_store.py writes, faiss_reader.py reads, segments.py; legacy.py reads
  pre-segment indexes)
- Milvus: a Milvus Lite file, a standalone server or a cluster (pymilvus imported only in these): milvus.py writes
  versions, milvus_reader.py reads one, milvus_client.py (connection, errors, names), milvus_rows.py (schemas, rows),
  milvus_postings.py and milvus_sparse.py (BM25 statistics)

`indexer.backend.open_store(settings)` picks one by `Settings.milvus_uri`. The functions below are the folder
backend's short forms for tools and tests.
"""

from __future__ import annotations

from pathlib import Path

from indexer.store.core import (
    FORMAT_VERSION,
    MANIFEST_KEYS,
    DocTable,
    IndexContent,
    VectorIndexParams,
    build_faiss,
    carried_manifest,
    describe_faiss,
    document_list,
    empty_content,
)
from indexer.store.faiss_reader import SegmentedReader, read_manifest
from indexer.store.faiss_store import FaissStore, MergePolicy
from indexer.store.legacy import IndexVersion, current_version_name, version_path
from indexer.store.protocol import IndexReader, IndexStore

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_KEYS",
    "carried_manifest",
    "DocTable",
    "FaissStore",
    "IndexContent",
    "IndexReader",
    "IndexStore",
    "IndexVersion",
    "MergePolicy",
    "SegmentedReader",
    "VectorIndexParams",
    "build_faiss",
    "current_version_name",
    "describe_faiss",
    "document_list",
    "empty_content",
    "open_current",
    "read_manifest",
    "version_path",
    "write_version",
    "writer_lock",
]


def open_current(index_dir: Path):
    """The live version of the index folder (IndexNotFoundError / IndexCorruptError)."""
    return FaissStore(Path(index_dir)).open_current()


def write_version(
    index_dir: Path,
    content: IndexContent,
    manifest: dict,
    keep_versions: int = 3,
    vector_params: VectorIndexParams | None = None,
) -> str:
    """Replace the index in `index_dir` by `content` (one segment) and publish it; return the version name."""
    return FaissStore(Path(index_dir), keep_versions, vector_params).write(content, manifest)


def writer_lock(index_dir: Path):
    return FaissStore(Path(index_dir)).lock()
