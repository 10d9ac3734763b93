"""Export a sentence-transformers model's transformer + mean pooling to ONNX for query-sized calls.

    python -m indexer.tools.query_export [--model data/models/multilingual-e5-small] [--adapter data/adapters/policy]

Part of `make model`. Writes `onnx/query_body.onnx` (indexer/query_body.py: `FILE`) into the model folder: the
graph takes word embeddings and the attention mask and returns the mean-pooled, normalised vector, in fp32 from
the folder's own weights (the 250k-row word table stays in the torch model, ~86 MB instead of ~470 MB). Only
models of Transformer + mean Pooling (+ Normalize) are exported; others keep torch for queries. The engine
checks the graph against the loaded model before using it, so a stale export is never used silently.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from indexer.config import Settings
from indexer.query_body import FILE

OPSET = 17


def exportable(model) -> str | None:
    """Why this model cannot be exported (None: it can): the graph reproduces mean pooling only."""
    names = [type(m).__name__ for m in model]
    if names[:2] != ["Transformer", "Pooling"] or any(n != "Normalize" for n in names[2:]):
        return f"modules {names} (Transformer, Pooling, Normalize expected)"
    mode = getattr(model[1], "pooling_mode", None)
    if mode != "mean" or not getattr(model[1], "include_prompt", True):
        return f"pooling {mode!r} (mean over every token, the prompt included, expected)"
    return None


def export(model_dir: Path, adapter: Path | None = None) -> Path:
    """Write the ONNX query body of the model (with `adapter` merged, into the adapter's folder) and return its
    path; the file is replaced atomically."""
    from sentence_transformers import SentenceTransformer

    from indexer.embedding import apply_adapter

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).float().eval()
    reason = exportable(model)
    if reason:
        raise SystemExit(f"{model_dir}: cannot export the query body: {reason}")
    if adapter is not None:
        apply_adapter(model, adapter)
    body = Body(model[0].auto_model)
    sample = model.preprocess(["query: 2021年政府工作报告"])
    embeds = model[0].auto_model.get_input_embeddings()(sample["input_ids"]).detach()
    out = (adapter or model_dir) / FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    axes = {"embeds": {0: "batch", 1: "tokens"}, "mask": {0: "batch", 1: "tokens"}, "vector": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(body, (embeds, sample["attention_mask"]), str(tmp), input_names=["embeds", "mask"],
                          output_names=["vector"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    os.replace(tmp, out)
    return out


class Body(torch.nn.Module):
    """Transformer from word embeddings, masked mean pooling, L2 normalisation (what the model computes)."""

    def __init__(self, transformer) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, embeds, mask):
        hidden = self.transformer(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, help="model folder (default: the configured model)")
    p.add_argument("--adapter", type=Path, help="LoRA adapter folder merged first; the body is written into it")
    args = p.parse_args(argv)
    folder = args.model or Path(Settings.from_env().model)
    for need in (folder, args.adapter):
        if need is not None and not need.is_dir():
            print(f"no folder {need}: run `make model` (or `make adapt`) first", file=sys.stderr)
            return 2
    print(f"wrote {export(folder, args.adapter)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
