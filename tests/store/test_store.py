"""The FAISS + SQLite store on disk: atomic publish, round trip, corruption detected, old versions pruned."""

import json

import faiss
import numpy as np
import pytest

from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.store import VectorIndexParams, build_faiss, current_version_name, open_current, read_manifest
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import PASSAGES, make_content, write_test_index
from tests.support.settings import test_settings


def test_write_then_open_round_trips(tmp_path):
    name = write_test_index(tmp_path)
    assert current_version_name(tmp_path) == name
    v = open_current(tmp_path)
    assert v.n_chunks == 5 and v.faiss.ntotal == 5
    assert [d["doc_id"] for d in v.documents()] == ["speech", "report-2024"]
    chunk = v.chunks_at([2])[0]
    assert chunk.heading_path == ["三、实践要求", "一是进一步筑牢意识形态安全屏障"]
    doc = v.document("speech")
    assert doc.text[chunk.start : chunk.end] == chunk.text
    assert doc.meta == {"year": 2021, "type": "speech"}
    assert v.document("../../etc/passwd") is None


def test_content_round_trip_keeps_vectors_and_tokens(tmp_path):
    write_test_index(tmp_path)
    original = make_content()
    content = open_current(tmp_path).content()
    assert [c.chunk_id for c in content.chunks] == [c.chunk_id for c in original.chunks]
    assert content.tokens == original.tokens
    np.testing.assert_allclose(content.embeddings, original.embeddings, atol=1e-3)  # stored as float16


def test_dense_search_finds_identical_text_first(tmp_path):
    write_test_index(tmp_path)
    v = open_current(tmp_path)
    q = FakeEmbedder().encode_queries([make_content().chunks[3].embedding_text()])[0]
    rows, scores = v.dense(q, 3)
    assert rows[0] == 3 and scores[0] == pytest.approx(1.0, abs=1e-5)


def test_filters_restrict_rows(tmp_path):
    write_test_index(tmp_path)
    v = open_current(tmp_path)
    assert v.allowed_rows() is None
    assert v.allowed_rows(year_from=2022).tolist() == [False, False, False, True, True]
    assert v.allowed_rows(doc_types=("speech",)).tolist() == [True, True, True, False, False]
    assert v.allowed_rows(doc_ids=("report-2024",), year_to=2023).tolist() == [False] * 5
    q = FakeEmbedder().encode_queries(["国内生产总值"])[0]
    rows, _ = v.dense(q, 5, v.allowed_rows(doc_types=("speech",)))
    assert set(rows.tolist()) <= {0, 1, 2}


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="make index"):
        open_current(tmp_path / "nothing")


def live_segment(index_dir):
    return index_dir / "segments" / read_manifest(index_dir)["segments"][-1]["name"]


def test_new_version_switches_and_old_versions_are_pruned(tmp_path):
    names = [write_test_index(tmp_path) for _ in range(5)]
    assert current_version_name(tmp_path) == names[-1]
    kept = sorted(p.stem for p in (tmp_path / "manifests").iterdir())
    assert kept == sorted(names[-3:])
    assert len(list((tmp_path / "segments").iterdir())) == 3  # the segments the kept manifests list


def test_truncated_file_is_detected(tmp_path):
    write_test_index(tmp_path)
    f = live_segment(tmp_path) / "vectors.faiss"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="truncated"):
        open_current(tmp_path)


def test_half_written_segment_without_its_metadata_is_detected(tmp_path):
    write_test_index(tmp_path)
    (live_segment(tmp_path) / "segment.json").unlink()
    with pytest.raises(IndexCorruptError, match="no manifest"):
        open_current(tmp_path)


def test_inconsistent_counts_are_detected(tmp_path):
    write_test_index(tmp_path)
    manifest = read_manifest(tmp_path)
    manifest["chunks"] = 99
    (tmp_path / "CURRENT").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        open_current(tmp_path)


def test_failed_write_leaves_current_untouched(tmp_path, monkeypatch):
    name = write_test_index(tmp_path)
    import indexer.store.segments as segments

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(segments, "term_frequencies", boom)
    with pytest.raises(RuntimeError):
        write_test_index(tmp_path, passages=PASSAGES)
    assert current_version_name(tmp_path) == name
    assert not list((tmp_path / "segments").glob(".tmp-*"))
    assert open_current(tmp_path).n_chunks == 5


def test_small_index_is_exact_and_says_so(tmp_path):
    write_test_index(tmp_path)
    v = open_current(tmp_path)
    assert v.manifest["vector_index"] == {"type": "flat"}
    assert isinstance(v.faiss, faiss.IndexFlat)


def test_forced_small_threshold_builds_hnsw_that_finds_exact_matches(tmp_path):
    # The threshold comes from the settings, like every other tunable.
    write_test_index(tmp_path, vector_params=VectorIndexParams.from_settings(test_settings(faiss_hnsw_threshold=2)))
    v = open_current(tmp_path)
    assert v.manifest["vector_index"]["type"] == "hnsw" and isinstance(v.faiss, faiss.IndexHNSW)
    content = make_content()
    for row, vec in enumerate(content.embeddings):
        rows, scores = v.dense(vec, 3)
        assert rows[0] == row and scores[0] == pytest.approx(1.0, abs=1e-5)
    # Filters work on both filtered paths: exact over the allowed rows, and the graph walk with a selector.
    speech = v.allowed_rows(doc_types=("speech",))
    for exact_filter_max in (v.n_chunks, 0):
        v.segments[0].exact_filter_max = exact_filter_max
        rows, _ = v.dense(content.embeddings[1], 5, speech)
        assert rows[0] == 1 and set(rows.tolist()) == {0, 1, 2}
        assert v.dense(content.embeddings[1], 5, np.zeros(5, dtype=bool))[0].size == 0


def test_hnsw_recall_against_exact_search(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 32)).astype(np.float32)
    vecs = centres[rng.integers(0, 20, 3000)] + 0.3 * rng.normal(size=(3000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    params = VectorIndexParams(hnsw_threshold=1000, hnsw_m=16, ef_construction=64, ef_search=64)
    hnsw, flat = build_faiss(vecs, params), build_faiss(vecs, VectorIndexParams(hnsw_threshold=10**9))
    assert isinstance(hnsw, faiss.IndexHNSW) and isinstance(flat, faiss.IndexFlat)
    queries = vecs[:50] + 0.05 * rng.normal(size=(50, 32)).astype(np.float32)
    _, exact = flat.search(queries, 10)
    _, approx = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9
    _, self_hits = hnsw.search(vecs[:50], 1)
    assert self_hits[:, 0].tolist() == list(range(50))
