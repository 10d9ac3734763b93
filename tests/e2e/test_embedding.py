"""Embedder: prompts, normalised float32 output, precision, query cache, model identity, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer.config import Settings
from indexer.embedding import (
    BGE_ZH_QUERY_PROMPT,
    Embedder,
    EmbeddingModelError,
    SentenceEmbedder,
    load_embedder,
    load_sentence_transformer,
    resolve_prompts,
)
from indexer.machine import cpu_has_native_bf16, resolve_dtype
from indexer.model_identity import resolve_model
from tests.support.contracts import EmbedderContract
from tests.support.settings import test_settings

TEXTS = [
    "国务院关于加快推进乡村振兴的意见",
    "坚持以人民为中心的发展思想，不断增强人民群众获得感、幸福感、安全感。",
    "How many new urban jobs were created last year?",
    "２０２４年国内生产总值增长５．０％",
    "一是加强理论武装；二是压实主体责任；三是创新宣传方式。",
]


@pytest.fixture(scope="module")
def settings(real_model_dir: Path) -> Settings:
    return test_settings(model=str(real_model_dir), device="cpu", dtype="fp32", batch_size=4)


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> Embedder:
    return load_embedder(settings)


@pytest.mark.slow
def test_identity_and_shape(embedder: Embedder, real_model_dir: Path):
    assert embedder.name == real_model_dir.name == "multilingual-e5-small"
    assert (embedder.dim, embedder.max_seq_length) == (384, 512)
    assert (embedder.device, embedder.dtype) == ("cpu", "fp32")
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")


@pytest.mark.slow
def test_outputs_are_normalised_float32(embedder: Embedder):
    for vecs in (embedder.encode_queries(TEXTS), embedder.encode_passages(TEXTS)):
        assert vecs.dtype == np.float32 and vecs.shape == (len(TEXTS), 384)
        assert vecs.flags.c_contiguous
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert embedder.encode_passages([]).shape == (0, 384)
    assert embedder.encode_queries([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.encode_passages("a single string")


@pytest.mark.slow
def test_prompts_are_applied(embedder: Embedder):
    queries, passages = embedder.encode_queries(TEXTS), embedder.encode_passages(TEXTS)
    assert ((queries * passages).sum(axis=1) < 0.999).all()  # same text, different prompt
    model = embedder.model
    manual_q = model.encode(TEXTS, prompt="query: ", normalize_embeddings=True)
    manual_p = model.encode(TEXTS, prompt="passage: ", normalize_embeddings=True)
    bare = model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(queries, manual_q, atol=1e-5)
    np.testing.assert_allclose(passages, manual_p, atol=1e-5)
    assert not np.allclose(passages, bare, atol=1e-3)


@pytest.mark.slow
def test_batching_does_not_change_results(embedder: Embedder):
    one_by_one = np.stack([embedder.encode_passages([t])[0] for t in TEXTS])
    np.testing.assert_allclose(embedder.encode_passages(TEXTS), one_by_one, atol=1e-5)
    many = embedder.encode_passages(TEXTS * 14, show_progress=True)  # more than one slice of 64
    np.testing.assert_allclose(many, np.tile(one_by_one, (14, 1)), atol=1e-5)


@pytest.mark.slow
def test_local_folder_loads_without_network(real_model_dir: Path, monkeypatch):
    import socket

    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = load_sentence_transformer(resolve_model(str(real_model_dir)), "cpu", "fp32")
    assert model.encode(["测试"]).shape == (1, 384)
    assert attempts == []


@pytest.mark.slow
def test_bf16_close_to_fp32(embedder: Embedder, settings: Settings):
    bf16 = load_embedder(test_settings(model=settings.model, device="cpu", dtype="bf16"))
    assert bf16.dtype == "bf16" and bf16.name == embedder.name
    a, b = embedder.encode_passages(TEXTS), bf16.encode_passages(TEXTS)
    assert b.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(axis=1).min() >= 0.999


@pytest.mark.slow
def test_query_cache_skips_the_model(settings: Settings, monkeypatch):
    from dataclasses import replace

    emb = load_embedder(replace(settings, query_cache_size=2))
    calls: list[list[str]] = []
    real = emb._encode

    def counting(texts, prompt, show_progress):
        calls.append(list(texts))
        return real(texts, prompt, show_progress)

    monkeypatch.setattr(emb, "_encode", counting)
    first = emb.encode_queries([TEXTS[0]])
    again = emb.encode_queries([TEXTS[0]])
    assert len(calls) == 1 and np.array_equal(first, again)
    again[0, :] = 0  # callers get copies: the cache cannot be corrupted
    assert np.array_equal(emb.encode_query(TEXTS[0]), first[0])
    assert len(calls) == 1

    emb.encode_queries([TEXTS[0], TEXTS[1], TEXTS[1]])  # only the new string is computed, once
    assert calls[-1] == [TEXTS[1]]
    emb.encode_queries([TEXTS[2]])  # size 2: evicts the least recently used (TEXTS[0])
    emb.encode_queries([TEXTS[0]])
    assert calls[-1] == [TEXTS[0]] and len(calls) == 4
    assert emb.cache_info()["size"] == 2

    emb.encode_passages([TEXTS[3]])
    emb.encode_passages([TEXTS[3]])  # passages are never cached
    assert len(calls) == 6


@pytest.mark.slow
def test_load_embedder_loads_model_once(settings: Settings, embedder: Embedder):
    from dataclasses import replace

    assert load_embedder(settings) is embedder
    other = load_embedder(replace(settings, query_cache_size=7, query_prompt="问题："))
    assert other is not embedder and other.model is embedder.model
    assert other.query_prompt == "问题："


def test_model_identity_names(tmp_path: Path):
    folder = resolve_model(str(tmp_path / "models" / "my-model"))
    assert folder.local and folder.name == "my-model"
    rel = resolve_model("data/models/multilingual-e5-small")
    assert rel.local and rel.name == "multilingual-e5-small"
    for model_id in ("intfloat/multilingual-e5-small", "BAAI/bge-small-zh-v1.5", "all-MiniLM-L6-v2"):
        ref = resolve_model(model_id)
        assert not ref.local and ref.name == model_id


def test_prompt_resolution():
    s = Settings()
    assert resolve_prompts(s, {}, "BAAI/bge-small-zh-v1.5") == (BGE_ZH_QUERY_PROMPT, "")
    assert resolve_prompts(s, {}, "intfloat/multilingual-e5-small") == ("query: ", "passage: ")
    assert resolve_prompts(s, {}, "BAAI/bge-m3") == ("", "")
    saved = {"query": "Q: ", "document": "D: "}
    assert resolve_prompts(s, saved, "some/model") == ("Q: ", "D: ")
    assert resolve_prompts(s, {"query": "Q: ", "passage": "P: ", "document": "D: "}, "x") == ("Q: ", "P: ")
    overridden = Settings(query_prompt="", passage_prompt="文档：")
    assert resolve_prompts(overridden, saved, "intfloat/multilingual-e5-small") == ("", "文档：")


def test_missing_model_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(EmbeddingModelError, match="make model") as info:
        load_embedder(Settings(model=str(tmp_path / "absent"), device="cpu", dtype="fp32"))
    assert isinstance(info.value, ValueError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmbeddingModelError, match="make model"):
        load_embedder(Settings(model=str(tmp_path / "empty"), device="cpu", dtype="fp32"))


def test_dtype_and_device_resolution():
    assert cpu_has_native_bf16("flags\t\t: fpu sse2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16("flags\t\t: fpu amx_bf16 amx_tile\n")
    assert cpu_has_native_bf16("Features\t: fp asimd bf16\n")
    assert not cpu_has_native_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    expected = "bf16" if cpu_has_native_bf16() else "fp32"
    assert resolve_dtype("auto", "cpu") == expected
    assert resolve_dtype("float32", "cpu") == "fp32"
    with pytest.raises(EmbeddingModelError):
        resolve_dtype("fp16", "cpu")
    with pytest.raises(EmbeddingModelError):
        resolve_dtype("int3", "cpu")


class _FakeModel:
    """Just enough of a SentenceTransformer for Embedder's own logic."""

    max_seq_length = 512
    prompts: dict = {}

    def get_embedding_dimension(self) -> int:
        return 8


def test_thread_policy(monkeypatch):
    from indexer import machine

    assert machine.other_runnable_tasks() >= 0  # the real /proc probe works here
    emb = SentenceEmbedder(_FakeModel(), name="fake", device="cpu", dtype="fp32", query_prompt="", passage_prompt="")
    bulk = ["长" * 400] * 16
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert emb._threads_for(["一个简短的查询"]) == 1  # query-sized: one thread
    assert emb._threads_for(bulk) == 3  # an explicit OMP_NUM_THREADS wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setattr(machine, "cpu_budget", lambda: 4)
    monkeypatch.setattr(machine, "other_runnable_tasks", lambda: 0)
    assert emb._threads_for(bulk) == 4  # an idle machine: every CPU
    monkeypatch.setattr(machine, "other_runnable_tasks", lambda: 3)
    assert emb._threads_for(bulk) == 1  # only the CPUs nobody else is using


@pytest.mark.slow
def test_query_fast_path_equals_model_encode(embedder: Embedder):
    direct = embedder.model.encode(TEXTS[:3], prompt=embedder.query_prompt, convert_to_numpy=True)
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    assert embedder._small_call(TEXTS[:3])
    np.testing.assert_allclose(embedder._encode(TEXTS[:3], embedder.query_prompt, False), direct, atol=1e-5)


@pytest.mark.slow
def test_warm_up_runs_the_query_path_without_caching(settings: Settings):
    from dataclasses import replace

    emb = load_embedder(replace(settings, query_cache_size=5))
    emb.clear_cache()
    assert emb.warm_up(max_chars=4) >= 0
    assert emb.cache_info()["size"] == 0



@pytest.mark.slow
class TestSentenceEmbedder(EmbedderContract):
    """The real embedder keeps the same contract as the fake one (the `embedder` fixture above)."""
