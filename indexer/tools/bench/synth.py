"""Synthetic scale-up of a real index, for benchmarks only.

An index of N chunks is the real corpus' chunks (in index order) when N is at most the
real count, else all real chunks plus N - n_real synthetic ones. A synthetic chunk is
made of real sentences from two real chunks A and B, shuffled together up to the length
of a real chunk; it keeps A's title, heading path and document metadata (so filters by
year and type behave as on real data). Its BM25 tokens are the real tokens of those
sentences (tokenised once, sentence by sentence). Its vector is NOT an embedding of its
text (that would take hours at 1M chunks on a small CPU): it is the mix of A's and B's
real embeddings weighted by the share of text taken from each, plus Gaussian noise
(sigma per dimension, default 0.005, i.e. about 0.1 of the unit norm), renormalised.
That keeps the vectors on the manifold of real embeddings (clustered like real data),
which matters for approximate search; random unit vectors would be far harder for HNSW
than any real corpus, and meaningless next to real query vectors.

Synthetic chunks are grouped into synthetic documents of `DOC_CHUNKS` chunks each.
"""

from __future__ import annotations

import numpy as np

from indexer import textnorm
from indexer.models import Chunk, Document
from indexer.sentences import split_sentences
from indexer.store import IndexContent

DOC_CHUNKS = 50
NOISE_SIGMA = 0.005


class SyntheticCorpus:
    """Real content plus what synthesis needs (sentences and their tokens, prepared lazily)."""

    def __init__(self, real: IndexContent, seed: int = 0, noise_sigma: float = NOISE_SIGMA):
        if not real.chunks:
            raise ValueError("synthesis needs at least one real chunk")
        self.real = real
        self.seed = seed
        self.noise_sigma = noise_sigma
        self.doc_of = {d.doc_id: d for d in real.documents}
        self._sentences: dict[int, list[tuple[str, list[str]]]] = {}
        self._head: dict[int, list[str]] = {}
        self.lengths = np.array([len(c.text) for c in real.chunks], dtype=np.int64)

    @property
    def n_real(self) -> int:
        return len(self.real.chunks)

    def _pieces(self, i: int) -> list[tuple[str, list[str]]]:
        got = self._sentences.get(i)
        if got is None:
            text = self.real.chunks[i].text
            got = [(text[s:e], textnorm.tokenize(text[s:e])) for s, e in split_sentences(text)] or [(text, [])]
            self._sentences[i] = got
        return got

    def _head_tokens(self, i: int) -> list[str]:
        got = self._head.get(i)
        if got is None:
            c = self.real.chunks[i]
            got = textnorm.tokenize(c.title + "\n" + " > ".join(c.heading_path))
            self._head[i] = got
        return got

    def content(self, n: int) -> IndexContent:
        """An IndexContent of exactly n chunks (real first, then synthetic)."""
        real = self.real
        if n <= self.n_real:
            chunks = real.chunks[:n]
            used = {c.doc_id for c in chunks}
            return IndexContent(
                documents=[d for d in real.documents if d.doc_id in used],
                chunks=list(chunks),
                embeddings=np.ascontiguousarray(real.embeddings[:n], dtype=np.float32),
                tokens=list(real.tokens[:n]),
            )
        extra = n - self.n_real
        docs, chunks, tokens, sources, shares = self._synthesise(extra)
        vectors = self._vectors(sources, shares)
        return IndexContent(
            documents=list(real.documents) + docs,
            chunks=list(real.chunks) + chunks,
            embeddings=np.concatenate([np.asarray(real.embeddings, dtype=np.float32), vectors]),
            tokens=list(real.tokens) + tokens,
        )

    def _synthesise(self, m: int):
        rng = np.random.default_rng(self.seed)
        by_doc: dict[str, list[int]] = {}
        for i, c in enumerate(self.real.chunks):
            by_doc.setdefault(c.doc_id, []).append(i)
        doc_rows = list(by_doc.values())
        doc_names = list(by_doc)
        src = np.empty((m, 2), dtype=np.int64)
        src[:, 1] = rng.integers(0, self.n_real, size=m)
        target = self.lengths[rng.integers(0, self.n_real, size=m)]
        shares = np.empty(m, dtype=np.float32)
        docs: list[Document] = []
        chunks: list[Chunk] = []
        tokens: list[list[str]] = []
        for g, first in enumerate(range(0, m, DOC_CHUNKS)):
            pick = int(rng.integers(0, len(doc_rows)))
            base = self.doc_of[doc_names[pick]]
            rows = doc_rows[pick]
            doc_id = f"syn{g:07d}"
            title = f"{base.title}（合成{g}）"
            texts: list[str] = []
            offset = 0
            for i in range(first, min(first + DOC_CHUNKS, m)):
                a, b = rows[int(rng.integers(0, len(rows)))], int(src[i, 1])
                src[i, 0] = a
                text, toks, shares[i] = self._mix(rng, a, b, int(target[i]))
                ordinal = i - first
                chunks.append(
                    Chunk(
                        chunk_id=f"{doc_id}#{ordinal}",
                        doc_id=doc_id,
                        title=title,
                        heading_path=list(self.real.chunks[a].heading_path),
                        text=text,
                        start=offset,
                        end=offset + len(text),
                        ordinal=ordinal,
                    )
                )
                tokens.append(toks)
                texts.append(text)
                offset += len(text) + 1
            docs.append(
                Document(
                    doc_id=doc_id,
                    title=title,
                    text="\n".join(texts),
                    source_path=f"synthetic/{doc_id}",
                    content_hash=f"synthetic-{self.seed}-{g}",
                    meta=dict(base.meta),
                )
            )
        return docs, chunks, tokens, src, shares

    def _mix(self, rng: np.random.Generator, a: int, b: int, target: int) -> tuple[str, list[str], float]:
        """Sentences of real chunks a and b shuffled until `target` characters; text, tokens, share from a."""
        pool = [(True, p) for p in self._pieces(a)] + [(False, p) for p in self._pieces(b)]
        parts, toks = [], list(self._head_tokens(a))
        size = from_a = 0
        for j in rng.permutation(len(pool)):
            is_a, (sentence, stoks) = pool[int(j)]
            parts.append(sentence)
            toks.extend(stoks)
            size += len(sentence)
            from_a += len(sentence) if is_a else 0
            if size >= target:
                break
        return "".join(parts), toks, from_a / max(size, 1)

    def _vectors(self, sources: np.ndarray, shares: np.ndarray, block: int = 65536) -> np.ndarray:
        emb = np.asarray(self.real.embeddings, dtype=np.float32)
        out = np.empty((len(sources), emb.shape[1]), dtype=np.float32)
        rng = np.random.default_rng(self.seed + 1)
        for s in range(0, len(sources), block):
            a, b = sources[s : s + block, 0], sources[s : s + block, 1]
            w = shares[s : s + block, None]
            v = w * emb[a] + (1.0 - w) * emb[b]
            v += rng.normal(0.0, self.noise_sigma, size=v.shape).astype(np.float32)
            v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
            out[s : s + block] = v
        return out
