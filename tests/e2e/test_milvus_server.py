"""A real Milvus 2.3.5 standalone server (the `milvus` wheel, started by the `milvus_server` fixture): the store
contract, and `python -m indexer build` + `python -m search_app query` with the real model against it."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from indexer.config import PROJECT_ROOT, Settings
from indexer.store.milvus import MilvusStore
from indexer.store.milvus_client import ServerCaps
from tests.support.settings import test_settings
from tests.support.store_contract import StoreContract

pytestmark = pytest.mark.slow
_names = itertools.count()


class TestMilvusServerStore(StoreContract):
    @pytest.fixture
    def store_settings(self, tmp_path, milvus_server) -> Settings:
        name = f"s{os.getpid()}_{next(_names)}"
        return test_settings(index_dir=tmp_path / "index", milvus_uri=milvus_server, milvus_collection=name)


def test_capabilities_come_from_the_server_version(milvus_server, tmp_path):
    caps = MilvusStore(milvus_server, "caps_probe", lock_dir=tmp_path).caps
    assert caps.version.startswith("v2.3") and not caps.inverted and caps.scalar_index(True) == "Trie"
    assert ServerCaps.from_version("v2.4.1").inverted and ServerCaps.from_version("milvus_lite-3.2.2").sparse


def test_cli_build_and_query_against_the_server(milvus_server, tmp_path, real_model_dir):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "POLICY_SEARCH_MILVUS_URI": milvus_server,
           "POLICY_SEARCH_MILVUS_COLLECTION": "cli_e2e", "POLICY_SEARCH_INDEX_DIR": str(tmp_path / "index"),
           "POLICY_SEARCH_MODEL": str(real_model_dir)}
    build = subprocess.run([sys.executable, "-m", "indexer", "build", "--quiet", "seeds/"], cwd=PROJECT_ROOT,
                           env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr[-2000:]
    assert "0 skipped" in build.stdout and not build.stdout.startswith("0 added")
    query = subprocess.run([sys.executable, "-m", "search_app", "query", "--format", "jsonl", "--k", "3",
                            "怎样防范意识形态领域的风险"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                           timeout=1200)
    assert query.returncode == 0, query.stderr[-2000:]
    results = json.loads(query.stdout.splitlines()[0])["results"]
    assert len(results) == 3 and any("意识形态" in r["text"] for r in results)
