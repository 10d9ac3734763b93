"""The query encoder's transformer on ONNX Runtime: the torch model's own weights, about a quarter less CPU.

Why: a Chinese query is about 3/4 model forward, and a one-query forward in torch is mostly per-operator
overhead and bf16 weight reads. ONNX Runtime runs the same graph in fp32 on one thread in ~17 ms of CPU where
torch bf16 takes ~22 ms (README "Speed"). Only query-sized calls use it: passages (batched, bf16) stay on torch
and the index's vectors do not change.

The graph (`FILE` in the model folder, or in the adapter folder for the model with that adapter merged; written
by `python -m indexer.tools.query_export`, part of `make model`)
takes word embeddings, looked up in the torch model's own table so the 250k-row table is held once, and returns
the mean-pooled, normalised sentence vector. `open_query_body` accepts it only when it agrees with the torch
model on probe queries (cosine >= `AGREEMENT`): an adapter merged into the torch model, a re-built model folder
or another pooling makes it decline, and queries stay on torch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from indexer.errors import EmbeddingModelError

log = logging.getLogger(__name__)

FILE = "onnx/query_body.onnx"
RUNTIMES = ("auto", "onnx", "torch")
AGREEMENT = 0.9999  # min cosine to the torch model's vectors on the probes (measured: >= 0.99995)
PROBES = ("2021年政府工作报告提出的经济增长目标是多少", "How did China reduce rural poverty?", "一")


class QueryBody:
    """One ONNX Runtime session (one thread, no spinning pool) over the exported transformer + pooling."""

    def __init__(self, path: Path, word_table) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a query-sized call gains nothing from a second thread (embedding.py)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.path = path
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.table = word_table

    def encode(self, features: dict) -> np.ndarray:
        """Normalised float32 vectors of a tokenised batch (the sentence-transformers `preprocess` features)."""
        import torch

        with torch.inference_mode():
            embeds = self.table[features["input_ids"]].float().numpy()
        mask = features["attention_mask"].numpy().astype(np.int64)
        return self.session.run(None, {"embeds": embeds, "mask": mask})[0]


def open_query_body(runtime: str, model, folder: str, prompt: str, forward) -> QueryBody | None:
    """The ONNX query body in `folder` (the model's, or the adapter's when one is merged) for this torch model, or
    None to keep queries on torch.

    `runtime`: `torch` never uses it; `auto` uses it when the file is there and agrees with `forward` (the torch
    path: texts, prompt -> vectors) on the probes; `onnx` requires that and raises EmbeddingModelError naming why.
    """
    if runtime not in RUNTIMES:
        raise EmbeddingModelError(f"query_runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if runtime == "torch":
        return None
    path = Path(folder) / FILE
    try:
        body = _checked(path, model, prompt, forward)
    except _Declined as exc:
        if runtime == "onnx":
            raise EmbeddingModelError(f"query_runtime=onnx but {exc}; run `make model` or set it to auto") from None
        log.info("queries run on torch: %s", exc)
        return None
    return body


class _Declined(Exception):
    """Why the ONNX body is not used."""


def _checked(path: Path, model, prompt: str, forward) -> QueryBody:
    if not path.is_file():
        raise _Declined(f"{path} does not exist (`python -m indexer.tools.query_export`)")
    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise _Declined("onnxruntime is not installed") from None
    try:
        body = QueryBody(path, model[0].auto_model.get_input_embeddings().weight)
        features = model.preprocess(list(PROBES), prompt=prompt or None)
        got = body.encode(features)
    except Exception as exc:  # a damaged file or a graph for another model: say so, keep torch
        raise _Declined(f"{path} cannot run ({type(exc).__name__}: {exc})") from None
    want = np.asarray(forward(list(PROBES), prompt), np.float32)
    want /= np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)
    agreement = float(np.min(np.sum(got * want, axis=1)))
    if agreement < AGREEMENT:
        raise _Declined(f"{path} disagrees with the loaded model (cosine {agreement:.5f} < {AGREEMENT})")
    return body
