"""Real model: span-pooled sentence vectors, and the corpus adapter (reproducible, recorded, mismatch refused)."""

import json

import numpy as np
import pytest

from indexer.embedding import load_embedder
from indexer.errors import ModelMismatchError
from indexer.model_identity import adapter_identity
from indexer.models import Chunk
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.sentences import split_sentences
from indexer.store import open_current
from indexer.tools.adapt import AdaptOptions, make_pairs, train
from tests.support.corpus import REPORT, SPEECH
from tests.support.settings import test_settings

pytestmark = pytest.mark.slow

TINY = AdaptOptions(pairs=16, batch_size=8, max_seq_length=48, layers=2)


def _chunks() -> list[Chunk]:
    out = []
    for doc_id, text in (("speech", SPEECH), ("report", REPORT)):
        lines = text.strip().split("\n")
        head = ""
        for i, line in enumerate(lines[1:]):
            if line[:2] in ("一、", "二、"):
                head = line
                continue
            out.append(Chunk(f"{doc_id}#{i}", doc_id, lines[0], [head], line, 0, len(line), i))
    return out


def test_span_vectors_come_from_the_passage_pass(real_model_dir):
    embedder = load_embedder(test_settings(None, model=str(real_model_dir)))
    texts = [SPEECH, REPORT]
    spans = [split_sentences(t) for t in texts]
    passages, per_text = embedder.encode_passages_with_spans(texts, spans)
    np.testing.assert_allclose(passages, embedder.encode_passages(texts), atol=0.02)  # the same passage vectors
    alone = embedder.encode_passages([t[a:b] for t, ss in zip(texts, spans) for a, b in ss])
    pooled = np.concatenate(per_text)
    assert pooled.shape == alone.shape
    assert float(np.min(np.sum(pooled * alone, axis=1))) > 0.8  # close to each sentence embedded alone


def test_adapter_is_reproducible_recorded_and_checked(real_model_dir, tmp_path):
    chunks = _chunks()
    assert {p[0] for p in make_pairs(chunks, TINY)} >= {"path", "cloze"}
    settings = test_settings(None, model=str(real_model_dir), adapter="")  # the base model ("" = no adapter)
    first = train(chunks, settings, TINY, tmp_path / "a1", log=lambda m: None)
    second = train(chunks, settings, TINY, tmp_path / "a2", log=lambda m: None)
    assert first["sha256"] == second["sha256"]  # same corpus, same options: the same adapter file
    assert json.loads((tmp_path / "a1" / "adapter.json").read_text())["sha256"] == first["sha256"]

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "speech.txt").write_text(SPEECH, encoding="utf-8")
    adapted = test_settings(None, model=str(real_model_dir), adapter=str(tmp_path / "a1"), index_dir=tmp_path / "idx")
    build_index([docs], adapted)
    manifest = open_current(tmp_path / "idx").manifest
    assert manifest["adapter"] == adapter_identity(tmp_path / "a1")
    base = load_embedder(settings)
    assert not np.allclose(load_embedder(adapted).encode_query("意识形态"), base.encode_query("意识形态"))
    with pytest.raises(ModelMismatchError, match="a1"):
        SearchEngine.open(test_settings(None, index_dir=tmp_path / "idx", adapter=""), embedder=base)
    engine = SearchEngine.open(adapted)
    assert engine.search("意识形态安全屏障", k=1).results
