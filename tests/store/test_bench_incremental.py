"""The incremental-write bench at toy size: both backends measured, an add weighs less than the index, a remove
less still, and the search comparison of one segment against ten runs."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.store import VectorIndexParams
from indexer.tools.bench import incremental
from tests.support.helpers import write_test_index


@pytest.mark.slow  # Milvus Lite starts a server
def test_incremental_bench_runs_at_toy_size(tmp_path):
    write_test_index(tmp_path / "real")
    results = incremental.run(tmp_path / "real", [60], ["faiss", "milvus-lite"], tmp_path / "work", k=1)
    (size,) = results["sizes"]
    faiss, milvus = size["faiss"], size["milvus_lite"]
    assert faiss["chunks"] == milvus["chunks"] == 60 and 0 < faiss["moved_chunks"] < 60
    assert 0 < faiss["add_bytes"] < faiss["index_bytes"] and faiss["remove_bytes"] < faiss["add_bytes"]
    assert milvus["add_s"] > 0 and milvus["remove_s"] > 0
    one, ten = size["segments"]["one_segment_p50_ms"], size["segments"]["ten_segments_p50_ms"]
    assert set(one) == set(ten) == {"dense", "lexical", "hybrid"}
    assert size["segments"]["segments"][0] == 1  # the write measurement's folder, its added segment dropped
    assert not (tmp_path / "work").exists()


@pytest.mark.slow  # starts a real Milvus 2.3.5 standalone server
def test_incremental_bench_measures_a_real_milvus_server(tmp_path, monkeypatch):
    from indexer.tools import milvus_server

    if milvus_server.executable() is None:
        pytest.skip("milvus-server missing: pip install milvus==2.3.5 (requirements-dev.txt)")
    monkeypatch.setattr(incremental, "SERVER_SETTLE_S", 1.0)
    write_test_index(tmp_path / "real")
    results = incremental.run(tmp_path / "real", [60], ["milvus-server"], tmp_path / "work", k=1)
    server = results["sizes"][0]["milvus_server"]
    assert server["server"].startswith("v2.3") and server["chunks"] == 60 and 0 < server["moved_chunks"] < 60
    assert server["add_bytes_split"]["segment_files"] > 0  # the added rows' binlogs
    assert 0 < server["add_bytes"] and server["remove_bytes"] < server["add_bytes"]
    assert server["reload_after_add_s"] > 0 and server["fresh_open_after_remove_s"] > 0
    assert not (tmp_path / "work").exists()


def test_faiss_settings_from_the_environment_reach_the_bench(tmp_path, monkeypatch):
    """POLICY_SEARCH_FAISS_* choose the bench's vector indexes, as they do for `python -m indexer`."""
    seen = {}
    monkeypatch.setattr(incremental, "run", lambda *a, **kw: seen.update(kw) or {})
    monkeypatch.setenv("POLICY_SEARCH_FAISS_HNSW_THRESHOLD", "30")
    monkeypatch.setenv("POLICY_SEARCH_FAISS_SEGMENT_HNSW_THRESHOLD", "3")
    assert incremental.main(["--backends", "faiss", "--out", str(tmp_path / "out.json")]) == 0
    assert seen["params"].hnsw_threshold == 30 and seen["params"].segment_threshold == 3


def test_bench_stores_follow_the_vector_index_parameters(tmp_path):
    """Thresholds small enough for HNSW everywhere: the one-segment index and each of the ten segments."""
    write_test_index(tmp_path / "real")
    params = VectorIndexParams(hnsw_threshold=30, segment_threshold=3)
    results = incremental.run(tmp_path / "real", [600], ["faiss"], tmp_path / "work", k=1, params=params)
    assert results["vector_index"]["hnsw_threshold"] == 30 and results["vector_index"]["segment_threshold"] == 3
    segments = results["sizes"][0]["segments"]
    assert segments["vector_indexes"] == [["hnsw"], ["hnsw"] * 10]
    assert min(segments["dense_recall_at_10"]) >= 0.9


def test_a_kept_index_of_other_vectors_is_not_reused(tmp_path):
    """--keep-work reuses an index only when it holds the same rows: a corpus synthesised again from a source
    index whose vectors changed (another model or adapter) is written anew, not compared with stale vectors."""
    write_test_index(tmp_path / "real")
    incremental.run(tmp_path / "real", [60], ["faiss"], tmp_path / "work", k=1, keep=True)
    ten = tmp_path / "work" / "segments-60" / "ten"
    version = incremental.FaissStore(ten).open_current()
    try:
        stored = np.stack([version.vector(r) for r in range(version.n_chunks)])
    finally:
        version.close()
    segments = incremental.live_segments(ten)  # at toy size, fewer than ten documents' worth of parts
    assert segments > 1 and incremental.reusable(ten, stored, segments)
    assert not incremental.reusable(ten, stored[:-1], segments)  # another row count
    assert not incremental.reusable(ten, -stored, segments)  # the same count, other vectors
    assert not incremental.reusable(ten, stored, 1)  # another segment count
