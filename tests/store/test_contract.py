"""The store contract (tests/support/store_contract.py) on the FAISS + SQLite segments and on Milvus Lite.
A real Milvus server runs it in tests/e2e/test_milvus_server.py."""

from __future__ import annotations

import itertools
import os

import pytest

from indexer.config import Settings
from tests.support.settings import test_settings
from tests.support.store_contract import StoreContract

_names = itertools.count()


class TestFaissStore(StoreContract):
    @pytest.fixture
    def store_settings(self, tmp_path) -> Settings:
        return test_settings(index_dir=tmp_path / "index")


@pytest.mark.slow  # Milvus Lite starts a server
class TestMilvusLiteStore(StoreContract):
    @pytest.fixture
    def store_settings(self, tmp_path, milvus_lite_uri) -> Settings:
        name = f"c{os.getpid()}_{next(_names)}"
        return test_settings(index_dir=tmp_path / "index", milvus_uri=milvus_lite_uri, milvus_collection=name)
