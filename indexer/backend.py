"""The store interface between the engine and its backend: FAISS + SQLite segments or Milvus, by one setting.

SearchEngine reads through an `IndexReader` (one published snapshot) and the pipeline writes through an
`IndexStore` (one writer at a time; every write publishes atomically), so neither knows which backend holds
the index. The contract (methods and errors) is in indexer/store/protocol.py. `Settings.milvus_uri` empty =
FAISS + SQLite segments (indexer/store/faiss_store.py), set = Milvus (indexer/store/milvus.py).
"""

from __future__ import annotations

from indexer.config import Settings
from indexer.store import FaissStore, IndexReader, IndexStore, MergePolicy, VectorIndexParams

__all__ = ["FaissStore", "IndexReader", "IndexStore", "describe", "open_store"]


def open_store(settings: Settings) -> IndexStore:
    """The configured backend; Milvus (and pymilvus) is imported only when configured."""
    if settings.milvus_uri:
        from indexer.store.milvus import MilvusStore

        return MilvusStore.from_settings(settings)
    return FaissStore(
        settings.index_dir,
        settings.keep_versions,
        VectorIndexParams.from_settings(settings),
        MergePolicy(settings.merge_factor, settings.merge_floor_rows, settings.merge_max_deleted),
        settings.merge_on_write,
        settings.faiss_search_threads,
    )


def describe(settings: Settings) -> str:
    """Where the index lives, for messages."""
    if settings.milvus_uri:
        return f"Milvus {settings.milvus_uri} (collection {settings.milvus_collection})"
    return str(settings.index_dir)
