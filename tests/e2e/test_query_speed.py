"""Query speed with the real model: weights on huge pages, same vectors (latency, issue 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.embedding import load_embedder, load_sentence_transformer, weights_on_huge_pages
from indexer.model_identity import resolve_model
from tests.support.settings import test_settings

TEXTS = ["国务院关于加快推进乡村振兴的意见", "城镇新增就业1244万人。", "How many new urban jobs were created?"]


def _thp_enabled() -> bool:
    try:
        return "[never]" not in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


def _huge_kib(address: int) -> int:
    """AnonHugePages of the mapping holding `address` in this process (/proc/self/smaps)."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "AnonHugePages:":
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_weights_move_bit_for_bit_and_vectors_stay(real_model_dir: Path):
    model = load_sentence_transformer(resolve_model(str(real_model_dir)), "cpu", "fp32")
    before = {name: p.detach().clone() for name, p in model.named_parameters() if "word_embeddings" not in name}
    vecs = model.encode(TEXTS, convert_to_numpy=True)
    block = weights_on_huge_pages(model)
    if block is None:
        pytest.skip("this kernel gives no transparent huge pages")
    import torch

    lo = torch.frombuffer(block, dtype=torch.uint8).data_ptr()
    for name, p in model.named_parameters():
        if name in before:  # all but the word-embedding table (a query reads ~20 of its rows) move
            assert torch.equal(p, before[name]) and lo <= p.data_ptr() < lo + len(block), name
    np.testing.assert_array_equal(model.encode(TEXTS, convert_to_numpy=True), vecs)
    if _thp_enabled():
        assert _huge_kib(lo + (2 << 20)) > 0


@pytest.mark.slow
def test_the_loaded_embedder_reads_its_weights_from_huge_pages(real_model_dir: Path):
    if not _thp_enabled():
        pytest.skip("transparent huge pages are off on this machine")
    embedder = load_embedder(test_settings(model=str(real_model_dir), device="cpu"))
    layer = embedder.model[0].auto_model.encoder.layer[0].intermediate.dense.weight
    assert _huge_kib(layer.data_ptr()) > 0
