"""Reusable contract tests (haystack-style): a test module subclasses one and provides the fixture.

Classes here are not collected themselves (this is not a test_*.py file); each subclass in a test
module runs every check against its own implementation, so the fake and the real thing are held
to the same promises.
"""

from __future__ import annotations

import numpy as np

from indexer.embedding import Embedder

TEXTS = ["国务院关于加快推进乡村振兴的意见", "How many new urban jobs were created last year?", "一"]


class EmbedderContract:
    """What `indexer.embedding.Embedder` promises; needs an `embedder` fixture."""

    def test_implements_the_protocol(self, embedder):
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.name, str) and embedder.name
        assert isinstance(embedder.dim, int) and embedder.dim > 0

    def test_queries_and_passages_are_normalised_float32(self, embedder):
        for vecs in (embedder.encode_queries(TEXTS), embedder.encode_passages(TEXTS)):
            assert vecs.dtype == np.float32 and vecs.shape == (len(TEXTS), embedder.dim)
            np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)

    def test_empty_input_gives_an_empty_matrix(self, embedder):
        assert embedder.encode_queries([]).shape == (0, embedder.dim)
        assert embedder.encode_passages([]).shape == (0, embedder.dim)

    def test_same_text_same_vector(self, embedder):
        a, b = embedder.encode_queries([TEXTS[0], TEXTS[0]])
        np.testing.assert_allclose(a, b, atol=1e-5)

    def test_warm_up_returns_seconds(self, embedder):
        seconds = embedder.warm_up()
        assert isinstance(seconds, float) and seconds >= 0.0
