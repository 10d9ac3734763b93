"""Vector indexes of segments: a segment beside others goes HNSW above `faiss_segment_hnsw_threshold` rows (a
segment that is the whole index above `faiss_hnsw_threshold`), the thresholds come from the settings, and a
search over several HNSW segments (each asked for its share of the hits, re-asked when that share may be short)
returns the exact top-n, filtered or not, on data small enough for the graphs to be exhaustive."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest

from indexer.backend import open_store
from indexer.config import Settings
from indexer.models import Chunk, Document
from indexer.store import FaissStore, IndexContent, VectorIndexParams, faiss_reader

DIM = 16
DOCS, CHUNKS = 100, 20  # 2,000 rows; ten parts of 200
MANIFEST = {"model": "toy", "dim": DIM, "chunker": "test"}
# Small thresholds: a 200-row segment beside others is HNSW, the 2,000-row index alone is flat (exact). Each of
# ten segments searches with a tenth of ef_search, 205 >= its rows: the graph walks are exhaustive, so what is
# tested is the merge (shares of k, asking again), not HNSW's approximation.
PARAMS = VectorIndexParams(hnsw_threshold=5000, hnsw_m=16, ef_construction=64, ef_search=2048, segment_threshold=100,
                           segment_ef_construction=40, segment_ef_search_min=32)


def toy_content(docs: int = DOCS, seed: int = 0) -> IndexContent:
    """`docs` documents of CHUNKS rows; three neighbouring documents share a cluster, so a query near one cluster
    finds most of its top hits in one segment of ten (the case where a segment's first share is too short)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(docs // 3 + 1, DIM)).astype(np.float32)
    documents, chunks, vectors = [], [], []
    for d in range(docs):
        doc_id = f"d{d:03d}"
        documents.append(Document(doc_id=doc_id, title=doc_id, text="x", content_hash=doc_id,
                                  meta={"type": "even" if d % 2 == 0 else "odd"}))
        for i in range(CHUNKS):
            chunks.append(Chunk(f"{doc_id}#{i}", doc_id, doc_id, [], "x", 0, 1, ordinal=i))
            vectors.append(centres[d // 3] + 0.4 * rng.normal(size=DIM).astype(np.float32))
    emb = np.asarray(vectors, dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return IndexContent(documents, chunks, emb, [["x"] for _ in chunks])


def parts_of(content: IndexContent, n: int) -> list[IndexContent]:
    ids = [d.doc_id for d in content.documents]
    return [content.rows_where(lambda d, w=frozenset(p.tolist()): d in w) for p in np.array_split(ids, n)]


def queries(content: IndexContent, m: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1)
    q = content.embeddings[rng.integers(0, len(content.embeddings), m)] + 0.1 * rng.normal(size=(m, DIM))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def exact(emb: np.ndarray, q: np.ndarray, n: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    scores = emb @ q
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    order = np.lexsort((np.arange(len(scores)), -scores))[: min(n, int(np.isfinite(scores).sum()))]
    return order, scores[order]


def vector_types(index_dir) -> list[str]:
    version = FaissStore(index_dir).open_current()
    try:
        return [seg.meta["vector_index"]["type"] for seg in version.segments]
    finally:
        version.close()


@pytest.fixture(scope="module")
def toy() -> IndexContent:
    return toy_content()


@pytest.fixture(scope="module")
def ten(tmp_path_factory, toy):
    """The toy rows as ten HNSW segments of one manifest, and as one flat segment."""
    root = tmp_path_factory.mktemp("vectors")
    store = FaissStore(root / "ten", vector_params=PARAMS, merge_on_write=False)
    with store.lock():
        store.write_segments(parts_of(toy, 10), MANIFEST)
    one = FaissStore(root / "one", vector_params=PARAMS)
    with one.lock():
        one.write(toy, MANIFEST)
    return root / "ten", root / "one"


def test_a_segment_beside_others_is_hnsw_above_the_segment_threshold(tmp_path, toy):
    store = FaissStore(tmp_path, vector_params=PARAMS, merge_on_write=False)
    small = toy.rows_where(lambda d: d < "d004")  # 80 rows: flat beside others
    big = toy.rows_where(lambda d: "d010" <= d < "d020")  # 200 rows: HNSW beside others
    with store.lock():
        store.write(toy.rows_where(lambda d: "d020" <= d < "d040"), MANIFEST)  # 400 rows alone: flat
        assert vector_types(tmp_path) == ["flat"]
        store.add(small, MANIFEST)
        store.add(big, MANIFEST)
    assert vector_types(tmp_path) == ["flat", "flat", "hnsw"]
    version = store.open_current()
    try:
        recorded = version.segments[2].meta["vector_index"]
        assert isinstance(version.segments[2].faiss, faiss.IndexHNSW)
        assert isinstance(version.segments[1].faiss, faiss.IndexFlat)
        assert recorded["ef_construction"] == PARAMS.segment_ef_construction and recorded["m"] == PARAMS.hnsw_m
    finally:
        version.close()
    with store.lock():
        store.optimize()
    assert vector_types(tmp_path) == ["flat"]  # merged into one: the index alone again, under hnsw_threshold


def test_the_whole_index_above_hnsw_threshold_is_hnsw_with_full_ef_construction(tmp_path, toy):
    params = VectorIndexParams(hnsw_threshold=1000, hnsw_m=16, ef_construction=64, segment_threshold=100,
                               segment_ef_construction=40)
    store = FaissStore(tmp_path, vector_params=params)
    with store.lock():
        store.write(toy, MANIFEST)
    version = store.open_current()
    try:
        assert version.segments[0].meta["vector_index"]["ef_construction"] == 64
        assert isinstance(version.segments[0].faiss, faiss.IndexHNSW)
    finally:
        version.close()


def test_settings_and_environment_reach_the_store(tmp_path):
    env = {"POLICY_SEARCH_FAISS_HNSW_THRESHOLD": "40", "POLICY_SEARCH_FAISS_SEGMENT_HNSW_THRESHOLD": "7",
           "POLICY_SEARCH_FAISS_SEGMENT_EF_CONSTRUCTION": "33", "POLICY_SEARCH_FAISS_SEGMENT_EF_SEARCH_MIN": "9",
           "POLICY_SEARCH_FAISS_HNSW_M": "12", "POLICY_SEARCH_FAISS_SEARCH_THREADS": "3"}
    settings = Settings.from_env(env, index_dir=tmp_path)
    store = open_store(settings)
    assert store.vector_params == VectorIndexParams(40, 12, 200, 1024, 7, 33, 9)
    assert store.search_threads == 3


def test_graph_segments_searched_at_once_give_the_serial_result(ten, toy, monkeypatch):
    """With search_threads > 1 the graph segments are searched on the shared pool's threads (a lone re-asked
    segment on the caller's), and the merged hits (first shares, re-asks, filters) are the same as searching
    them one after the other."""
    ten_dir, _ = ten
    serial, threaded = FaissStore(ten_dir).open_current(), FaissStore(ten_dir, search_threads=2).open_current()
    threads: set[str] = set()
    original = faiss_reader.faiss_search

    def spy(*args):
        threads.add(threading.current_thread().name)
        return original(*args)

    try:
        allowed = serial.allowed_rows(doc_types=("even",))
        for q in queries(toy, 20):
            for n, keep in ((10, None), (50, None), (30, allowed)):
                want_rows, want_scores = serial.dense(q, n, keep)
                monkeypatch.setattr(faiss_reader, "faiss_search", spy)
                rows, scores = threaded.dense(q, n, keep)
                monkeypatch.setattr(faiss_reader, "faiss_search", original)
                assert rows.tolist() == want_rows.tolist()
                np.testing.assert_array_equal(scores, want_scores)
        assert len({name for name in threads if name.startswith("segment-search")}) == 2  # both pool threads
    finally:
        serial.close()
        threaded.close()


def test_merged_search_over_hnsw_segments_equals_the_exact_top_n(ten, toy):
    ten_dir, one_dir = ten
    assert vector_types(ten_dir) == ["hnsw"] * 10 and vector_types(one_dir) == ["flat"]
    segmented, single = FaissStore(ten_dir).open_current(), FaissStore(one_dir).open_current()
    try:
        for q in queries(toy):
            for n in (10, 100):
                rows, scores = segmented.dense(q, n)
                want_rows, want_scores = single.dense(q, n)
                assert rows.tolist() == want_rows.tolist()
                np.testing.assert_allclose(scores, want_scores, atol=1e-5)
                assert rows.tolist() == exact(toy.embeddings, q, n)[0].tolist()
    finally:
        segmented.close()
        single.close()


def test_a_segment_holding_most_hits_is_asked_again(ten, toy, monkeypatch):
    """Each HNSW segment is first asked for its share of k with its share of efSearch; one holding most of the
    top hits is asked again, for twice as many each time up to k, until its last hit falls out of the top."""
    ten_dir, _ = ten
    version = FaissStore(ten_dir).open_current()
    asked: list[tuple[int, int, int]] = []
    original = faiss_reader.faiss_search

    def spy(index, qvec, n, ok, ef_search, *rest):
        asked.append((id(index), n, ef_search))
        return original(index, qvec, n, ok, ef_search, *rest)

    monkeypatch.setattr(faiss_reader, "faiss_search", spy)
    try:
        q = toy.embeddings[CHUNKS * 3 * 5]  # documents 15-17 share a cluster, all in the second segment
        rows, _ = version.dense(q, 50)
        assert rows.tolist() == exact(toy.embeddings, q, 50)[0].tolist()
        first, again = asked[:10], asked[10:]
        assert [(n, ef) for _, n, ef in first] == [(17, 205)] * 10  # ceil(1.25 x 50 / 10) + 10 hits, 2048 / 10 ef
        per_segment: dict[int, list[int]] = {}
        for index, n, _ in again:
            per_segment.setdefault(index, []).append(n)
        assert 0 < len(per_segment) < 10
        for sizes in per_segment.values():  # 2 x 17, then all 50 (never more than k)
            assert sizes == [34, 50][: len(sizes)]
        assert [34] in per_segment.values()  # for one of them, a second ask of twice its share was enough
    finally:
        version.close()


@pytest.mark.parametrize("keep", ["narrow", "wide"])
def test_filtered_search_over_hnsw_segments_is_exact(ten, toy, keep, monkeypatch):
    """A narrow filter (at most exact_filter_max rows over the index) is searched exactly in each segment; a
    wide one walks each graph with a selector: both give the exact filtered top-n."""
    ten_dir, _ = ten
    version = FaissStore(ten_dir).open_current()
    try:
        if keep == "narrow":
            allowed = version.allowed_rows(doc_types=("even",))
            allowed[np.arange(len(allowed)) % 7 != 0] = False  # ~143 rows
        else:
            allowed = version.allowed_rows(doc_types=("even",))  # 1,000 rows
            for seg in version.segments:
                seg.exact_filter_max = 100
        for q in queries(toy, 20):
            rows, scores = version.dense(q, 30, allowed)
            want_rows, want_scores = exact(toy.embeddings, q, 30, allowed)
            assert rows.tolist() == want_rows.tolist()
            np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    finally:
        version.close()


def test_search_after_deletions_over_hnsw_segments_is_exact(tmp_path, toy):
    store = FaissStore(tmp_path, vector_params=PARAMS, merge_on_write=False)
    gone = {"d015", "d016", "d050"}
    with store.lock():
        store.write_segments(parts_of(toy, 10), MANIFEST)
        store.delete(tuple(gone))
    kept = toy.rows_where(lambda d: d not in gone)
    version = store.open_current()
    try:
        for q in queries(toy, 20):
            rows, _ = version.dense(q, 40)
            assert rows.tolist() == exact(kept.embeddings, q, 40)[0].tolist()
    finally:
        version.close()


def test_write_segments_refuses_a_document_in_two_parts(tmp_path, toy):
    store = FaissStore(tmp_path, vector_params=PARAMS)
    part = toy.rows_where(lambda d: d == "d000")
    with store.lock(), pytest.raises(ValueError, match="two parts"):
        store.write_segments([part, part], MANIFEST)


def test_segment_search_threads_run_faiss_with_one_openmp_thread():
    """Two OpenMP teams spinning side by side on two cores slow both: the pool's threads run FAISS alone, and
    the caller's own setting (index builds use every core) is left as it was."""
    import faiss

    before = faiss.omp_get_max_threads()
    pool = faiss_reader._search_pool(2)
    assert set(pool.map(lambda _: faiss.omp_get_max_threads(), range(4))) == {1}
    assert faiss.omp_get_max_threads() == before
