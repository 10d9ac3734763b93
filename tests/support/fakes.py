"""Test doubles that stand in for heavy dependencies: the real embedding model (see `indexer.embedding.Embedder`)."""

from __future__ import annotations

import zlib

import numpy as np


class FakeEmbedder:
    """Deterministic embedder from hashed character bigrams: no model download, instant.

    Texts that share bigrams get similar vectors, so ranking tests behave like a
    (weak) lexical matcher. Vectors are float32 and L2-normalised like the real
    embedder's; an empty or one-character text still gets a unit vector.
    """

    name = "fake-hash"
    dim = 64

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # ("query"|"passage", n texts), for tests that count calls
        self.warm_ups = 0

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        chars = "".join(text.split())
        grams = [chars[i : i + 2] for i in range(len(chars) - 1)] or [chars]
        for gram in grams:
            h = zlib.crc32(gram.encode("utf-8"))
            vec[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        self.calls.append(("query", len(texts)))
        return self._encode(list(texts))

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        self.calls.append(("passage", len(texts)))
        return self._encode(list(texts))

    def warm_up(self) -> float:
        """Nothing to prepare; recorded so a test can see the engine asked."""
        self.warm_ups += 1
        return 0.0

    def encode_passages_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Like the real embedder: passage vectors plus one vector per character span, from one "pass"."""
        passages = self.encode_passages(texts, show_progress)  # counts the call; a crashing override crashes
        per_text = [
            self._encode([t[a:b] for a, b in ss]) if ss else np.zeros((0, self.dim), np.float32)
            for t, ss in zip(texts, spans)
        ]
        return passages, per_text
