"""Adapt the embedding model to an indexed corpus: a small LoRA adapter trained on the documents alone.

    python -m indexer.tools.adapt [--index data/index] [--out data/adapters/corpus] [--pairs 6400] ...
    POLICY_SEARCH_ADAPTER=data/adapters/corpus python -m indexer build ...   # then re-index with it

No question from any eval set is used: the training pairs come from the index's own passages
(heading -> its section, title + heading path -> passage, a sentence -> the rest of its passage
(inverse cloze), a passage's most distinctive words -> the passage; a passage -> the next one on
request), with in-batch negatives (the multiple-negatives ranking loss of sentence-transformers at
e5's own scale, written out here so no trainer stack is needed). Only the LoRA
matrices (peft) are trained and saved: a ~0.6 MB `adapter_model.safetensors` whose sha256 the
index records. Deterministic: pairs come in a fixed order from a seeded generator, torch runs on
a fixed thread count with deterministic algorithms, so the same corpus and options give the same
file (checked by tests/e2e/test_adapt.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from indexer.config import DATA_DIR, Settings
from indexer.models import Chunk
from indexer.sentences import split_sentences

DEFAULT_OUT = DATA_DIR / "adapters" / "corpus"
PAIR_KINDS = ("heading", "path", "cloze", "next", "keywords", "english", "colloquial")


@dataclass(frozen=True)
class AdaptOptions:
    """Everything that shapes the adapter (recorded in adapter.json next to it)."""

    pairs: int = 6400  # training pairs in all, in equal shares per kind where the corpus has them
    batch_size: int = 32  # in-batch negatives per anchor: batch_size - 1
    epochs: int = 1
    max_seq_length: int = 128  # tokens; passages are cut here during training only
    lr: float = 2e-4
    rank: int = 8
    alpha: int = 16
    layers: int = 6  # LoRA on the top N of the 12 layers: the backward pass stops there (~1.5x faster)
    bf16: bool = True  # bf16 autocast where the CPU has native bf16 (~2x faster; same result every run)
    # similarity scale of the ranking loss: e5's own 1/temperature (0.01). At sentence-transformers' 20 the loss is
    # high even when every pair ranks right (e5's cosines lie within 0.8-0.95), so training mostly spread the
    # cosines apart, and that cost keyword questions in hybrid fusion.
    scale: float = 100.0
    seed: int = 13
    threads: int = 1  # fixed for determinism (and to leave the other core to others)
    min_chars: int = 12  # shorter anchors (a bare "一是") carry no meaning to learn from
    # the learned update is saved scaled by this (lora_B x strength): a model between the base and the trained
    # one kept what each does best on dev (keyword questions of the base, paraphrase of the trained; README)
    strength: float = 0.7
    kinds: tuple[str, ...] = ("heading", "path", "cloze", "keywords")  # which of PAIR_KINDS to train on
    # a mined hard negative per pair (the anchor's best BM25 passage outside the positive's section), so the loss
    # also ranks the positive above a passage sharing its words, not only above random ones of the batch
    hard_negatives: bool = False
    # a passage of the positive's own document, outside its section, drawn at random, as the negative instead:
    # the engine's misses find the right document and then the wrong passage of it
    document_negatives: bool = False


Pair = tuple[str, str, str] | tuple[str, str, str, str]  # (kind, anchor, positive[, negative])


def _rest_of(text: str, span: tuple[int, int]) -> str:
    return (text[: span[0]] + text[span[1] :]).strip()


def make_pairs(chunks: list[Chunk], options: AdaptOptions, colloquial_file: Path | None = None) -> list[Pair]:
    """(kind, anchor, positive) pairs from the passages alone, in a fixed order for a given seed; with
    `hard_negatives`, each with a mined negative passage as a fourth member. `colloquial_file` (the colloquial
    dictionary) is read for the colloquial kind only."""
    rng = random.Random(options.seed)
    by_kind: dict[str, list[tuple[str, str, str]]] = {k: [] for k in PAIR_KINDS}
    seen_heading: set[tuple[str, str]] = set()
    section: dict[str, tuple[str, str]] = {}  # passage text -> (document, heading path)
    ordered = sorted(chunks, key=lambda c: (c.doc_id, c.ordinal))
    wants_keywords = {"keywords", "english", "colloquial"} & set(options.kinds)
    keywords = _keyword_queries(ordered, rng) if wants_keywords else {}
    for i, c in enumerate(ordered):
        if len(c.text) < options.min_chars:
            continue
        path = " > ".join(c.heading_path)
        if c.heading_path and (c.doc_id, path) not in seen_heading and len(c.heading_path[-1]) >= 4:
            seen_heading.add((c.doc_id, path))  # a heading's first passage: the start of its section
            by_kind["heading"].append(("heading", c.heading_path[-1], c.text))
        by_kind["path"].append(("path", f"{c.title} {path}".strip(), c.text))
        section[c.text] = (c.doc_id, path)
        spans = [s for s in split_sentences(c.text) if s[1] - s[0] >= options.min_chars]
        if len(spans) >= 2:
            span = spans[rng.randrange(len(spans))]
            rest = _rest_of(c.text, span)
            by_kind["cloze"].append(("cloze", c.text[span[0] : span[1]], rest))
            section.setdefault(rest, (c.doc_id, path))
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if nxt is not None and nxt.doc_id == c.doc_id and len(nxt.text) >= options.min_chars:
            by_kind["next"].append(("next", c.text, nxt.text))
        if keywords.get(i):
            by_kind["keywords"].append(("keywords", keywords[i], c.text))
            for kind, anchor in _reworded(keywords[i], options, rng, colloquial_file).items():
                by_kind[kind].append((kind, anchor, c.text))
    kinds = [k for k in PAIR_KINDS if k in options.kinds]
    share = max(1, options.pairs // max(1, len(kinds)))
    picked: list[tuple[str, str, str]] = []
    for kind in kinds:
        items = by_kind[kind]
        picked += rng.sample(items, min(share, len(items)))
    rng.shuffle(picked)
    if options.hard_negatives:
        picked = _with_hard_negatives(picked, ordered, section)
    elif options.document_negatives:
        picked = _with_document_negatives(picked, ordered, section, rng)
    return _no_duplicate_in_batch(picked, options.batch_size)


def _with_hard_negatives(pairs: list[Pair], ordered: list[Chunk], section: dict[str, tuple[str, str]]) -> list[Pair]:
    """Each pair with the anchor's best BM25 passage outside the positive's section (document + heading path):
    a passage sharing the anchor's words that another section holds. Passages of the same section may answer
    the anchor as well, so they are never taken as negatives; a pair with no such passage is dropped."""
    from indexer.lexical import BM25Index
    from indexer.textnorm import tokenize

    texts = [c.text for c in ordered]
    bm25 = BM25Index.build([tokenize(t) for t in texts])
    out: list[Pair] = []
    for kind, anchor, positive, *_ in pairs:
        home = section.get(positive)
        rows, _ = bm25.search(tokenize(anchor), 20)
        for r in rows.tolist():
            other = ordered[r]
            if other.text != positive and (other.doc_id, " > ".join(other.heading_path)) != home:
                out.append((kind, anchor, positive, other.text))
                break
    return out


def _with_document_negatives(
    pairs: list[Pair], ordered: list[Chunk], section: dict[str, tuple[str, str]], rng: random.Random
) -> list[Pair]:
    """Each pair with a random passage of the positive's document from another section (dropped when the
    document has no other section)."""
    by_doc: dict[str, list[str]] = {}
    for c in ordered:
        if c.text in section:  # a passage long enough to train on
            by_doc.setdefault(c.doc_id, []).append(c.text)
    out: list[Pair] = []
    for kind, anchor, positive, *_ in pairs:
        doc, path = section[positive]
        others = [t for t in by_doc[doc] if section[t][1] != path]
        if others:
            out.append((kind, anchor, positive, rng.choice(others)))
    return out


def _keyword_queries(ordered: list[Chunk], rng: random.Random) -> dict[int, str]:
    """A short keyword query per passage: 2-4 of its most distinctive words (tf-idf over the corpus).

    Teaches the model what a reader who types the documents' own terms wants, so adapting to
    sentences and headings does not unlearn plain term matching (keyword questions). Words
    common in general Chinese (jieba's frequency >= 1000: 这里, 考虑, 方法) are no keywords.
    """
    import jieba

    from indexer.textnorm import has_chinese, segment

    jieba.initialize()  # jieba's own dictionary: general Chinese, without the policy terms
    general = jieba.dt.FREQ
    words = [
        [w for w in segment(c.text) if len(w) >= 2 and has_chinese(w) and general.get(w, 0) < 1000] for c in ordered
    ]
    df: dict[str, int] = {}
    for ws in words:
        for w in set(ws):
            df[w] = df.get(w, 0) + 1
    n = len(ordered)
    out: dict[int, str] = {}
    for i, ws in enumerate(words):
        tf: dict[str, int] = {}
        for w in ws:
            if 2 <= df[w] <= max(2, n // 20):  # in two passages at least (no typo), in 5% at most (not 发展)
                tf[w] = tf.get(w, 0) + 1
        best = sorted(tf, key=lambda w: (-tf[w] * math.log(n / df[w]), w))[:6]
        if len(best) >= 2:
            chosen = set(rng.sample(best, min(len(best), rng.randint(2, 4))))
            out[i] = " ".join(sorted(chosen, key=ws.index))  # in the passage's own order
    return out


def _reworded(query: str, options: AdaptOptions, rng: random.Random, colloquial_file: Path | None) -> dict[str, str]:
    """A keyword query in a reader's other words: English (CC-CEDICT glosses of its words) and colloquial (an
    official word swapped for a citizen's word that the colloquial dictionary maps to it). Only words of the
    corpus and the two dictionaries are read, never a question."""
    words = query.split()
    out: dict[str, str] = {}
    if "english" in options.kinds:
        english = [g for g in (_glosses().get(w) for w in words) if g]
        if len(english) >= 2:
            out["english"] = " ".join(english)
    if "colloquial" in options.kinds and colloquial_file is not None:
        plain = _plain_words(colloquial_file)
        swapped = [rng.choice(plain[w]) if w in plain else w for w in words]
        if swapped != words:
            out["colloquial"] = " ".join(swapped)
    return out


@lru_cache(maxsize=1)
def _glosses() -> dict[str, str]:
    """Simplified headword -> its first English gloss (CC-CEDICT, the dictionary `make lexicon` reverses)."""
    from indexer.tools.lexicon import cedict_gloss

    return cedict_gloss()


@lru_cache(maxsize=2)
def _plain_words(colloquial_file: Path) -> dict[str, list[str]]:
    """Official term -> the colloquial words mapped to it (the colloquial dictionary read backwards)."""
    from indexer.expansion import ColloquialTerms

    terms = ColloquialTerms.load(colloquial_file)
    back: dict[str, list[str]] = {}
    for word, officials in sorted((terms.entries if terms else {}).items()):
        for official in officials:
            back.setdefault(official, []).append(word)
    return back


def _no_duplicate_in_batch(pairs: list[Pair], batch: int) -> list[Pair]:
    """Drop a pair whose anchor, positive or negative already occurs in its batch (a duplicate is a false
    negative)."""
    out: list[Pair] = []
    texts: set[str] = set()
    for p in pairs:
        if len(out) % batch == 0:
            texts = set()
        if any(t in texts for t in p[1:]):
            continue
        texts.update(p[1:])
        out.append(p)
    return out


def _set_determinism(options: AdaptOptions) -> None:
    import numpy as np
    import torch

    random.seed(options.seed)
    np.random.seed(options.seed)
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    torch.use_deterministic_algorithms(True)


def _lora_model(settings: Settings, options: AdaptOptions):
    """The base model in fp32 on CPU with fresh LoRA matrices on attention's query, key, value and output."""
    from peft import LoraConfig, get_peft_model

    from indexer.embedding import load_sentence_transformer
    from indexer.model_identity import resolve_model

    model = load_sentence_transformer(resolve_model(settings.model), "cpu", "fp32")
    model.max_seq_length = options.max_seq_length
    n_layers = int(model[0].auto_model.config.num_hidden_layers)
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=0.0,
        target_modules=["query", "key", "value", "attention.output.dense"],
        layers_to_transform=list(range(max(0, n_layers - options.layers), n_layers)),
        bias="none",
    )
    model[0].model = get_peft_model(model[0].auto_model, config)  # `auto_model` reads `model`
    return model


def train(chunks: list[Chunk], settings: Settings, options: AdaptOptions, out: Path, log=print) -> dict:
    """Train on pairs from `chunks`, save the adapter to `out`; returns what adapter.json records."""
    import torch

    from indexer.embedding import resolve_prompts
    from indexer.machine import cpu_has_native_bf16
    from indexer.model_identity import ADAPTER_WEIGHTS, adapter_identity

    _set_determinism(options)
    pairs = make_pairs(chunks, options, settings.colloquial_file)
    if len(pairs) < 2:
        raise SystemExit("too few passages to adapt to (need at least two training pairs)")
    model = _lora_model(settings, options)
    query_prompt, passage_prompt = resolve_prompts(settings, dict(model.prompts or {}), resolve_model_name(settings))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=options.lr)
    steps = options.epochs * ((len(pairs) + options.batch_size - 1) // options.batch_size)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    use_bf16 = options.bf16 and cpu_has_native_bf16()
    model.train()
    t0, c0, step, losses = time.perf_counter(), time.process_time(), 0, []
    for _ in range(options.epochs):
        for start in range(0, len(pairs), options.batch_size):
            batch = pairs[start : start + options.batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
                loss = _batch_loss(model, batch, query_prompt, passage_prompt, options.scale)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % 10 == 0 or step == steps:
                recent = sum(losses[-10:]) / len(losses[-10:])
                log(f"step {step}/{steps} loss {recent:.4f} ({time.perf_counter() - t0:.0f}s)")
    out.mkdir(parents=True, exist_ok=True)
    _scale_update(model, options.strength)
    model[0].auto_model.save_pretrained(str(out))
    info = {
        "base_model": resolve_model_name(settings),
        "options": asdict(options),
        "pairs": {k: sum(1 for p in pairs if p[0] == k) for k in options.kinds},
        "steps": steps,
        "first_loss": round(losses[0], 4),
        "last_loss": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "bf16": use_bf16,
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - c0, 1),
        "sha256": adapter_identity(out)["sha256"],
        "weights": ADAPTER_WEIGHTS,
    }
    (out / "adapter.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
    return info


def _scale_update(model, strength: float) -> None:
    """Scale the LoRA update (B of B·A) in place: interpolate between the base and the trained model."""
    import torch

    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(strength)


def resolve_model_name(settings: Settings) -> str:
    from indexer.model_identity import resolve_model

    return resolve_model(settings.model).name


def _batch_loss(model, batch, query_prompt: str, passage_prompt: str, scale: float):
    """Multiple-negatives ranking loss: each anchor must pick its own positive among the batch's positives
    (and the batch's hard negatives, when the pairs carry them)."""
    import torch

    anchors = model(model.preprocess([p[1] for p in batch], prompt=query_prompt or None))["sentence_embedding"]
    passages = [p[2] for p in batch] + [p[3] for p in batch if len(p) > 3]
    candidates = model(model.preprocess(passages, prompt=passage_prompt or None))["sentence_embedding"]
    sims = torch.nn.functional.normalize(anchors, dim=-1) @ torch.nn.functional.normalize(candidates, dim=-1).T
    return torch.nn.functional.cross_entropy(sims * scale, torch.arange(len(batch)))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    d = AdaptOptions()
    p = argparse.ArgumentParser(prog="python -m indexer.tools.adapt", description=__doc__.split("\n")[0])
    p.add_argument("--index", type=Path, help="index whose passages to train on (default: the configured index)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"adapter folder (default {DEFAULT_OUT})")
    p.add_argument("--model", help="base model (default from settings)")
    for name in ("pairs", "batch_size", "epochs", "max_seq_length", "rank", "layers", "seed", "threads"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--strength", type=float, default=d.strength, help="saved update x this (1 = as trained)")
    p.add_argument("--scale", type=float, default=d.scale, help="similarity scale of the ranking loss (1/temperature)")
    p.add_argument("--kinds", default=",".join(d.kinds), help=f"comma list of pair kinds of {', '.join(PAIR_KINDS)}")
    p.add_argument("--fp32", action="store_true", help="train in fp32 even where the CPU has native bf16")
    p.add_argument("--hard-negatives", action="store_true", help="add a mined BM25 negative to every pair")
    p.add_argument(
        "--document-negatives", action="store_true", help="add a passage of the positive's document to every pair"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from indexer import textnorm
    from indexer.backend import open_store
    from indexer.errors import SearchEngineError

    args = _parse_args(argv)
    settings = replace_adapter(Settings.from_env(index_dir=args.index, model=args.model))
    options = AdaptOptions(
        **{k: getattr(args, k) for k in ("pairs", "batch_size", "epochs", "max_seq_length", "rank", "layers", "seed")},
        threads=args.threads,
        lr=args.lr,
        scale=args.scale,
        strength=args.strength,
        kinds=tuple(k for k in PAIR_KINDS if k in args.kinds.split(",")),
        bf16=not args.fp32,
        hard_negatives=args.hard_negatives,
        document_negatives=args.document_negatives,
    )
    try:
        version = open_store(settings).open_current()
        chunks = version.content().chunks
        version.close()
    except SearchEngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    textnorm.use_terms(settings.terms_file)  # keyword pairs cut words as the index does
    print(f"adapting {resolve_model_name(settings)} to {len(chunks)} passages of {settings.index_dir}", file=sys.stderr)
    info = train(chunks, settings, options, args.out, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps({"out": str(args.out), **info}, ensure_ascii=False, indent=1))
    print(
        f"\nnext: POLICY_SEARCH_ADAPTER={args.out} python -m indexer build ...  (the index records the adapter)",
        file=sys.stderr,
    )
    return 0


def replace_adapter(settings: Settings) -> Settings:
    """Training always starts from the base model, whatever POLICY_SEARCH_ADAPTER says."""
    from dataclasses import replace

    return replace(settings, adapter=None)


if __name__ == "__main__":
    raise SystemExit(main())
