"""The ONNX query body (indexer/query_body.py): `make model` exports it, queries run on it with the torch
model's vectors to cosine 0.9999, and a missing, damaged or disagreeing graph keeps queries on torch (auto) or is
a clear error (onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexer import query_body
from indexer.config import Settings
from indexer.embedding import EmbeddingModelError, load_embedder
from tests.support.settings import test_settings

QUESTIONS = [
    "2023年国内生产总值增长多少",
    "农村老人能不能领养老金",
    "How many new urban jobs were created in 2024?",
    "兩個確立的決定性意義",
    "新质生产力",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(real_model_dir: Path) -> Path:
    """The default model folder with its exported bodies, the base model's and the default adapter's (`make model`
    writes both; exported here when missing)."""
    from indexer.tools.query_export import export

    if not (real_model_dir / query_body.FILE).is_file():
        export(real_model_dir)
    adapter = Path(Settings().adapter)
    if not (adapter / query_body.FILE).is_file():
        export(real_model_dir, adapter)
    return real_model_dir


def base(model: Path, **overrides) -> Settings:
    """Settings for the base model (no adapter) on CPU."""
    return test_settings(model=str(model), device="cpu", adapter="", **overrides)  # "": none (None keeps the default)


def twin_folder(src: Path, dest: Path, onnx_bytes: bytes | None) -> Path:
    """The model's files linked into another folder, with `onnx_bytes` (None: no file) as its ONNX body."""
    for item in src.iterdir():
        if item.name != "onnx":
            (dest / item.name).symlink_to(item)
    if onnx_bytes is not None:
        (dest / "onnx").mkdir()
        (dest / query_body.FILE).write_bytes(onnx_bytes)
    return dest


def vectors(embedder, texts: list[str]) -> np.ndarray:
    embedder.clear_cache()
    return embedder.encode_queries(texts)


def test_queries_run_on_the_body_and_keep_the_torch_vectors(exported: Path, monkeypatch):
    onnx = load_embedder(base(exported, query_runtime="onnx"))
    torch_only = load_embedder(base(exported, query_runtime="torch"))
    assert isinstance(onnx.query_body, query_body.QueryBody) and torch_only.query_body is None
    calls = []
    original = query_body.QueryBody.encode
    monkeypatch.setattr(query_body.QueryBody, "encode", lambda self, f: calls.append(1) or original(self, f))
    got, want = vectors(onnx, QUESTIONS), vectors(torch_only, QUESTIONS)
    assert calls  # the body ran, not the torch model
    assert np.min(np.sum(got * want, axis=1)) >= query_body.AGREEMENT
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    passages = onnx.encode_passages(QUESTIONS[:2])  # passages never use it: the index's vectors do not change
    np.testing.assert_array_equal(passages, torch_only.encode_passages(QUESTIONS[:2]))


def test_auto_uses_a_good_body_and_declines_a_missing_or_damaged_one(exported: Path, tmp_path: Path):
    good = load_embedder(base(exported, query_runtime="auto"))
    assert good.query_body is not None
    for name, content in (("missing", None), ("damaged", b"not an onnx graph")):
        (tmp_path / name).mkdir()
        folder = twin_folder(exported, tmp_path / name, content)
        auto = load_embedder(base(folder, query_runtime="auto"))
        assert auto.query_body is None  # queries stay on torch
        assert vectors(auto, QUESTIONS[:1]).shape == (1, auto.dim)
        with pytest.raises(EmbeddingModelError, match="query_runtime=onnx"):
            load_embedder(base(folder, query_runtime="onnx"))


def test_a_body_that_disagrees_with_the_model_is_declined(exported: Path, tmp_path: Path, monkeypatch):
    """What an adapter merged into the torch model (or a rebuilt folder) would look like: the probes disagree."""
    folder = twin_folder(exported, tmp_path, (exported / query_body.FILE).read_bytes())
    monkeypatch.setattr(query_body, "AGREEMENT", 1.01)  # no cosine reaches it
    assert load_embedder(base(folder)).query_body is None
    with pytest.raises(EmbeddingModelError, match="disagrees with the loaded model"):
        load_embedder(base(folder, query_runtime="onnx"))


def test_an_unknown_runtime_is_a_clear_error(exported: Path):
    with pytest.raises(EmbeddingModelError, match="query_runtime must be one of"):
        load_embedder(base(exported, query_runtime="tensorrt"))


def test_the_default_adapter_runs_on_its_own_body(exported: Path):
    """The default settings merge the policy adapter: its body (exported with the adapter merged) is used and
    keeps the adapted torch model's vectors; the base model's body would disagree."""
    adapted = load_embedder(test_settings(model=str(exported), device="cpu"))
    torch_only = load_embedder(test_settings(model=str(exported), device="cpu", query_runtime="torch"))
    assert adapted.adapter and adapted.query_body is not None
    assert adapted.query_body.path == Path(Settings().adapter) / query_body.FILE
    got, want = vectors(adapted, QUESTIONS), vectors(torch_only, QUESTIONS)
    assert np.min(np.sum(got * want, axis=1)) >= query_body.AGREEMENT
    plain = vectors(load_embedder(base(exported)), QUESTIONS)
    assert np.min(np.sum(got * plain, axis=1)) < query_body.AGREEMENT  # the adapter changes the vectors
