"""The fake embedder keeps the Embedder contract, so unit tests exercise the real code paths."""

from __future__ import annotations

import pytest

from tests.support.contracts import EmbedderContract
from tests.support.fakes import FakeEmbedder


class TestFakeEmbedder(EmbedderContract):
    @pytest.fixture
    def embedder(self) -> FakeEmbedder:
        return FakeEmbedder()
