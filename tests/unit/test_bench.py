"""The benchmark at toy size with the fake embedder: structure of the results, never the figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from indexer.config import PROJECT_ROOT
from indexer.tools.bench import runner as bench
from indexer.tools.bench.measure import cycle, exact_top, percentiles, rss_mb
from indexer.tools.bench.options import MODES, BenchConfig
from indexer.tools.bench.synth import SyntheticCorpus
from indexer.tools.bench.tables import format_tables
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import make_content
from tests.support.settings import test_settings

SEED = sorted((PROJECT_ROOT / "seeds").glob("*.txt"))
DOC = "区委宣传部部长理论学习中心组专题学习发言"
QUERIES = [
    {"id": "t1", "query": "怎样防止意识形态领域出问题", "kind": "paraphrase", "doc": DOC,
     "answer": "筑牢意识形态安全屏障"},
    {"id": "t2", "query": "文明城市创建", "kind": "keyword", "doc": DOC},
    {"id": "t3", "query": "How to guard against ideological risks", "kind": "english", "doc": DOC},
]


def _ordered(p: dict) -> bool:
    return p["n"] > 0 and p["p50"] <= p["p95"] <= p["p99"] <= p["max"]


@pytest.fixture
def toy_config(tmp_path: Path) -> BenchConfig:
    qfile = tmp_path / "queries.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUERIES), encoding="utf-8")
    return BenchConfig(
        sizes=(10, 60),
        out=tmp_path / "out" / "results.json",
        work=tmp_path / "work",
        sources=SEED,
        quality_queries=qfile,
        query_files=[qfile],
        ood_query_files=[qfile],
        dtypes=("fp32",),
        queries_per_mode=3,
        http="thread",
        http_clients=2,
        http_requests=2,
        peers=("naive",),
        peer_max_size=10,
        peer_queries=3,
        txtai_own_indexing=False,
        hnsw_ef_sweep=(16, 32),
        settings=test_settings(faiss_hnsw_threshold=40),  # the 60-chunk size gets an HNSW index
    )


@pytest.mark.slow  # serves HTTP on loopback
def test_bench_runs_at_toy_size(toy_config: BenchConfig):
    class Adapted(FakeEmbedder):  # the default model carries an adapter: the bench's index copies must record it
        adapter = {"name": "toy", "sha256": "ab" * 32}

    fake = Adapted()
    results = bench.run(toy_config, factory=lambda dtype: fake)

    saved = json.loads(toy_config.out.read_text(encoding="utf-8"))
    assert set(saved) >= {"meta", "indexing", "quality", "peers", "peers_ours", "sizes", "goals"}
    assert saved["meta"]["load_start"] and saved["meta"]["machine"]["cpus"] >= 1

    run = results["indexing"]["runs"][0]
    assert run["chunks"] == results["indexing"]["chunks"] > 10 and run["ratio"] > 0
    assert run["pipeline"]["embed_seconds"] <= run["pipeline"]["seconds"]

    assert set(results["quality"]["ours"]) == set(MODES)
    assert all(0 <= v["MRR@10"] <= 1 for v in results["quality"]["ours"].values())

    small, large = results["sizes"]
    assert (small["chunks"], small["synthetic_chunks"], small["vector_index"]["type"]) == (10, 0, "flat")
    assert (large["chunks"], large["vector_index"]["type"]) == (60, "hnsw") and large["synthetic_chunks"] > 0
    for size in (small, large):
        for mode in (*MODES, "embed_only", "hybrid_cached", "hybrid_no_sentence_embedding",
                     "hybrid_out_of_domain"):
            assert _ordered(size["inprocess"][mode]), (size["chunks"], mode)
        assert 0 <= size["recall"]["dense"]["recall_at_10"] <= 1
        assert size["disk"]["total"] > 0 and "vectors.faiss" in size["disk"]["files"]
        for mode in MODES:
            h = size["http"]["modes"][mode]
            assert h["errors"] == 0 and _ordered(h) and h["qps"] > 0
        assert _ordered(size["http"]["modes"]["hybrid_1client"])
    assert small["recall"]["dense"]["recall_at_10"] == 1.0  # exact index
    assert [e["ef_search"] for e in large["recall"]["ef_sweep"]] == [16, 32]

    peer = results["peers"][0]
    assert "error" not in peer, peer
    assert _ordered(peer["hybrid"]) and 0 <= peer["quality"]["MRR@10"] <= 1
    assert str(peer["chunks"]) in results["peers_ours"]

    text = format_tables(results)
    for heading in ("Indexing", "Quality", "In-process latency", "HTTP on loopback", "Peers"):
        assert heading in text


def test_percentiles_and_helpers():
    p = percentiles([5.0, 1.0, 3.0, 100.0])
    assert p["n"] == 4 and p["p50"] == 4.0 and p["p50"] <= p["p95"] <= p["p99"] <= p["max"] == 100.0
    assert percentiles([]) == {"n": 0}
    assert cycle(list("abcdefg"), 3) == ["a", "d", "g"]  # spread over the list: every kind of query
    assert cycle(["a", "b"], 5) == ["a", "b", "a", "b", "a"]
    assert rss_mb()["rss_mb"] > 0


def test_exact_top_matches_a_full_sort():
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(300, 8)).astype(np.float32)
    queries = rng.normal(size=(20, 8)).astype(np.float32)
    allowed = rng.random(300) < 0.5
    got = exact_top(vecs, queries, 5, allowed)
    sims = queries @ vecs.T
    sims[:, ~allowed] = -np.inf
    assert (got == np.argsort(-sims, axis=1)[:, :5]).all()


def test_synthetic_corpus_grows_real_content():
    real = make_content()
    synth = SyntheticCorpus(real, seed=3)
    small = synth.content(3)
    assert [c.chunk_id for c in small.chunks] == [c.chunk_id for c in real.chunks[:3]]
    big = synth.content(130)
    assert len(big.chunks) == len(big.tokens) == big.embeddings.shape[0] == 130
    np.testing.assert_allclose(np.linalg.norm(big.embeddings, axis=1), 1.0, atol=1e-5)
    doc_of = {d.doc_id: d for d in big.documents}
    for chunk in big.chunks[len(real.chunks) :]:
        doc = doc_of[chunk.doc_id]
        assert doc.text[chunk.start : chunk.end] == chunk.text and chunk.title == doc.title
        assert doc.meta in [d.meta for d in real.documents]  # filters see real years and types
    assert synth.content(130).chunks[-1].text == big.chunks[-1].text  # deterministic for a seed


@pytest.mark.slow  # txtai brings in its own stack (seconds to import)
def test_txtai_peer_on_toy_content():
    pytest.importorskip("txtai")
    from indexer.tools.bench.peers import TxtaiPeer

    real = make_content()
    peer = TxtaiPeer(real, FakeEmbedder(), jieba=True)
    try:
        rows, scores = peer.search("国内生产总值增长目标", 3)
        assert rows and set(rows) <= set(range(len(real.chunks))) and scores == sorted(scores, reverse=True)
    finally:
        peer.close()
