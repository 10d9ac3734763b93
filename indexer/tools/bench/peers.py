"""Peers for `python -m indexer.tools.bench`: the same chunks, vectors and model, other retrieval engines.

* naive: FAISS IndexFlatIP + rank_bm25's BM25Okapi over the same jieba tokens, fused like ours
  (weighted sum of max-normalised scores over a 100-deep pool): what a short script would do.
* txtai: a txtai 9 hybrid index (its BM25 "terms" index + its FAISS index, its convex fusion), either
  with its default tokenizer ("txtai") or with our jieba tokenizer ("txtai+jieba", same tokens as ours).

Passage vectors are the ones our pipeline computed (same model, bf16), handed over as external
vectors, so every engine ranks exactly the same vectors. Query vectors are computed per query by
the same sentence-transformers model with a plain `model.encode(..., prompt="query: ")` on one
thread (what txtai's own sentence-transformers vectorizer does), never cached.
`txtai_own_index_throughput` times txtai indexing with its own vectorizer (the model folder path).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from indexer import textnorm
from indexer.fusion import score_fuse
from indexer.models import SearchResponse, SearchResult
from indexer.store import IndexContent
from indexer.tools.bench.indexing import quality
from indexer.tools.bench.measure import percentiles, rss_mb

POOL = 100


def query_encoder(embedder) -> Callable[[str], np.ndarray]:
    """Plain sentence-transformers encode of one query (no cache, no fast path); another Embedder as it is."""
    from indexer.embedding import SentenceEmbedder

    if not isinstance(embedder, SentenceEmbedder):  # no bare model under it: its own uncached passage path
        return lambda q: embedder.encode_passages([q])[0]
    import torch

    model, prompt = embedder.model, embedder.query_prompt or None

    def encode(q: str) -> np.ndarray:
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        v = model.encode([q], prompt=prompt, convert_to_numpy=True)[0].astype(np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    return encode


class Peer:
    """Common surface: search(query, k) -> (rows, scores); `name`; build time."""

    name = "peer"
    build_seconds = 0.0

    def search(self, query: str, k: int = 10) -> tuple[list[int], list[float]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class NaivePeer(Peer):
    name = "faiss-flat+rank_bm25"

    def __init__(self, content: IndexContent, embedder, lexical_weight: float = 1.0):
        import faiss
        from rank_bm25 import BM25Okapi

        t0 = time.perf_counter()
        self.index = faiss.IndexFlatIP(content.embeddings.shape[1])
        self.index.add(np.ascontiguousarray(content.embeddings, dtype=np.float32))
        self.bm25 = BM25Okapi([t or ["\x00"] for t in content.tokens])
        self.encode = query_encoder(embedder)
        self.lexical_weight = lexical_weight
        self.build_seconds = time.perf_counter() - t0

    def search(self, query: str, k: int = 10):
        q = self.encode(query).reshape(1, -1)
        d_scores, d_rows = self.index.search(q, POOL)
        keep = d_rows[0] >= 0
        dense = (d_rows[0][keep], d_scores[0][keep])
        scores = self.bm25.get_scores(textnorm.tokenize(query))
        top = np.argsort(-scores)[:POOL]
        top = top[scores[top] > 0]
        ranked = score_fuse([dense, (top, scores[top])], [1.0, self.lexical_weight])[:k]
        return [r for r, _ in ranked], [s for _, s in ranked]


def _jieba_bm25_class():
    from txtai.scoring import BM25

    class JiebaBM25(BM25):
        """txtai's BM25 with our tokenizer (folding + jieba with the policy dictionary)."""

        def tokenize(self, text):
            return textnorm.tokenize(text)

    return JiebaBM25


class TxtaiPeer(Peer):
    def __init__(self, content: IndexContent, embedder, jieba: bool = False):
        from txtai import Embeddings

        self.name = "txtai+jieba" if jieba else "txtai"
        encode = query_encoder(embedder)
        vectors = np.ascontiguousarray(content.embeddings, dtype=np.float32)
        by_text: dict[str, int] = {}

        def transform(texts):
            out = []
            for t in texts:
                row = by_text.get(t)
                out.append(vectors[row] if row is not None else encode(t))
            return np.stack(out).astype(np.float32)

        scoring = {"method": "bm25", "terms": True, "normalize": True}
        if jieba:
            import indexer.tools.bench.peers as me

            me.JiebaBM25 = _jieba_bm25_class()  # resolvable by txtai as a class path
            scoring["method"] = "indexer.tools.bench.peers.JiebaBM25"
        texts = [c.embedding_text() for c in content.chunks]
        for i, t in enumerate(texts):
            by_text.setdefault(t, i)
        t0 = time.perf_counter()
        self.embeddings = Embeddings(method="external", transform=transform, content=False, scoring=scoring, dense=True)
        self.embeddings.index([(i, t, None) for i, t in enumerate(texts)])
        self.build_seconds = time.perf_counter() - t0
        by_text.clear()  # from now on every text is a query: encoded, never looked up
        self._n = len(texts)

    def search(self, query: str, k: int = 10):
        hits = self.embeddings.search(query, k)
        return [int(i) for i, _ in hits], [float(s) for _, s in hits]

    def close(self) -> None:
        self.embeddings.close()


def txtai_own_index_throughput(texts: list[str], model_path: str, dtype: str) -> dict:
    """txtai indexing with its own sentence-transformers vectorizer (same model folder), chunks/s."""
    import torch
    from txtai import Embeddings

    kwargs = {"model_kwargs": {"torch_dtype": torch.bfloat16}} if dtype == "bf16" else {}
    t0 = time.perf_counter()
    emb = Embeddings(path=model_path, method="sentence-transformers", hybrid=True, content=False, vectors=kwargs)
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    emb.index([(i, t, None) for i, t in enumerate(texts)])
    seconds = time.perf_counter() - t1
    emb.close()
    return {
        "engine": "txtai (own vectorizer)",
        "dtype": dtype,
        "chunks": len(texts),
        "seconds": seconds,
        "chunks_per_s": len(texts) / seconds if seconds else 0.0,
        "model_load_s": load,
        "torch_threads": torch.get_num_threads(),
    }


class PeerEngine:
    """Enough of SearchEngine for indexer.eval.evaluate: rankings from a peer, passages from our index."""

    def __init__(self, peer: Peer, content: IndexContent, judge_engine):
        self.peer, self.content, self._engine = peer, content, judge_engine

    def search_many(self, queries, k=10, mode="hybrid", filters=None):
        out = []
        for q in queries:
            t0 = time.perf_counter()
            rows, scores = self.peer.search(q, k)
            took = (time.perf_counter() - t0) * 1000
            results = []
            for rank, (row, score) in enumerate(zip(rows, scores), start=1):
                c = self.content.chunks[row]
                results.append(
                    SearchResult(
                        rank, float(score), c.doc_id, c.title, c.heading_path, c.text, c.chunk_id, c.start, c.end
                    )
                )
            out.append(SearchResponse(query=q, took_ms=took, mode=mode, results=results))
        return out

    def documents(self):
        return self._engine.documents()

    def document(self, doc_id):
        return self._engine.document(doc_id)

    def chunks_of(self, doc_id):
        return self._engine.chunks_of(doc_id)


def make_peer(name: str, content, embedder):
    from indexer.tools.bench.peers import NaivePeer, TxtaiPeer

    if name == "naive":
        return NaivePeer(content, embedder)
    if name == "txtai":
        return TxtaiPeer(content, embedder)
    if name == "txtai+jieba":
        return TxtaiPeer(content, embedder, jieba=True)
    raise ValueError(f"unknown peer {name!r}")


def bench_peer(name: str, content, embedder, queries: Sequence[str], judge_engine=None,
               quality_queries: Path | None = None) -> dict:
    try:
        rss0 = rss_mb().get("rss_mb", 0)
        peer = make_peer(name, content, embedder)
    except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported plainly
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    try:
        out = {"name": peer.name, "chunks": len(content.chunks), "build_s": peer.build_seconds,
               "rss_delta_mb": rss_mb().get("rss_mb", 0) - rss0}
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            peer.search(q, 10)
            lat.append((time.perf_counter() - t0) * 1000)
        out["hybrid"] = percentiles(lat)
        if judge_engine is not None and quality_queries is not None:
            out["quality"] = quality(PeerEngine(peer, content, judge_engine), quality_queries, ("hybrid",))["hybrid"]
        return out
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        peer.close()
