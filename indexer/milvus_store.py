"""Moved to indexer.store.milvus (the store package); this name stays for existing imports."""

from indexer.store.milvus import *  # noqa: F403
from indexer.store.milvus import (  # noqa: F401
    DOCS_SUFFIX,
    PART_CHARS,
    MilvusStore,
    MilvusVersion,
    ServerCaps,
    client_for,
    filter_expr,
    is_local,
    migrate_from_faiss,
)
