"""The Milvus 2.3.5 standalone launcher for the tests' session fixture (it lives with the tools: the bench uses it
too)."""

from indexer.tools.milvus_server import MilvusServer, executable, free_port, start

__all__ = ["MilvusServer", "executable", "free_port", "start"]
