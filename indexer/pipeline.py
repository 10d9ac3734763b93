"""Build, update and shrink the index: documents -> chunks -> vectors + tokens -> the store.

A build writes the whole index (IndexStore.write); add embeds only new and changed documents and hands them
to IndexStore.add (one new segment on the FAISS backend, the changed documents' old rows deleted in the same
published version); remove writes only deletions (IndexStore.delete). Every write publishes atomically, so a
failure at any point leaves the last published version serving.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer import sentence_vectors, textnorm
from indexer.backend import IndexStore, open_store
from indexer.chunking import CHUNKER_VERSION, chunk_document
from indexer.config import Settings
from indexer.documents import DocumentError, iter_documents
from indexer.embedding import Embedder
from indexer.errors import SearchEngineError
from indexer.formats.ocr import options_from
from indexer.model_identity import check_index_model
from indexer.models import Chunk, Document
from indexer.sentences import split_sentences
from indexer.store import IndexContent, carried_manifest
from indexer.store.core import check_compatible

SENTENCE_MODES = ("span", "passage", "query", "off")


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "path: reason"
    notes: list[str] = field(default_factory=list)  # "path: what was skipped inside a file that loaded"
    chunks: int = 0
    seconds: float = 0.0
    version: str = ""

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.replaced)} replaced",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.removed)} removed",
            f"{len(self.errors)} skipped",
        ]
        return (
            f"{', '.join(parts)}; {self.chunks} chunks in index version {self.version or '(none)'} "
            f"({self.seconds:.1f}s)"
        )


def _embedder(settings: Settings, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from indexer.embedding import load_embedder

    return load_embedder(settings)


def _sentence_mode(settings: Settings, store: IndexStore, current: dict | None = None) -> str:
    """Sentence vectors as configured, as the existing index has them when adding, never on a store without."""
    if not getattr(store, "stores_sentences", True):
        return "off"
    if current is not None:
        return str(current.get("sentence_vectors") or "off")  # one index, one kind of rows
    return settings.sentence_vectors


def _manifest(settings: Settings, embedder: Embedder, sentences: str = "off") -> dict:
    return {
        "model": embedder.name,
        "adapter": getattr(embedder, "adapter", None),
        "sentence_vectors": sentences,
        "dim": int(embedder.dim),
        "chunker": CHUNKER_VERSION,
        "tokenizer": textnorm.TOKENIZER_VERSION,
        "chunking": {
            "target_chars": settings.chunk_target_chars,
            "max_chars": settings.chunk_max_chars,
            "min_chars": settings.chunk_min_chars,
        },
    }


@contextmanager
def _writing(settings: Settings) -> Iterator[tuple[IndexStore, BuildReport]]:
    """One write operation: the store's writer lock held, a report timed from start to end."""
    t0 = time.perf_counter()
    report = BuildReport()
    textnorm.use_terms(settings.terms_file)
    store = open_store(settings)
    with store.lock():
        yield store, report
    report.seconds = time.perf_counter() - t0


def chunk_documents(docs: list[Document], settings: Settings) -> list[Chunk]:
    """Every document's chunks, in order, sized by the settings (what indexing embeds)."""
    chunks: list[Chunk] = []
    for doc in docs:
        chunks.extend(
            chunk_document(doc, settings.chunk_target_chars, settings.chunk_max_chars, settings.chunk_min_chars)
        )
    return chunks


def document_content(
    docs: list[Document], settings: Settings, embedder: Embedder, progress: bool, sentences: str = "off"
) -> IndexContent:
    """`docs` chunked, embedded and tokenised, in order (with sentence vectors unless `sentences` is off)."""
    chunks = chunk_documents(docs, settings)
    texts = [c.embedding_text() for c in chunks]
    vectors, extras = embed_chunks(chunks, texts, embedder, sentences, progress)
    return IndexContent(
        documents=list(docs),
        chunks=chunks,
        embeddings=np.asarray(vectors, dtype=np.float32).reshape(len(chunks), embedder.dim),
        tokens=[textnorm.tokenize(t) for t in texts],
        extras=extras,
    )


def embed_chunks(
    chunks: list[Chunk], texts: list[str], embedder: Embedder, mode: str, progress: bool = False
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Passage vectors and, unless `mode` is off, the sentence-vector arrays (indexer/sentence_vectors.py).

    `span` (default) pools each sentence's tokens from the passage's own forward pass (~5% more CPU time,
    `python -m indexer.tools.sentence_cost`); `passage` / `query` embed every sentence again with that prompt
    (~2.1x). Embedders without token access (test doubles) embed the sentences separately.
    """
    dim = int(embedder.dim)
    if mode not in SENTENCE_MODES:
        raise SearchEngineError(f"sentence_vectors must be one of {', '.join(SENTENCE_MODES)}, got {mode!r}")
    if not texts:
        return np.zeros((0, dim), np.float32), ({} if mode == "off" else sentence_vectors.empty(dim))
    if mode == "off":
        return np.asarray(embedder.encode_passages(texts, show_progress=progress), np.float32), {}
    spans = [split_sentences(c.text) for c in chunks]
    if mode == "span" and hasattr(embedder, "encode_passages_with_spans"):
        shifts = [len(t) - len(c.text) for t, c in zip(texts, chunks)]  # the text ends the embedding text
        shifted = [[(a + d, b + d) for a, b in ss] for ss, d in zip(spans, shifts)]
        vectors, per_chunk = embedder.encode_passages_with_spans(texts, shifted, show_progress=progress)
    else:
        vectors = np.asarray(embedder.encode_passages(texts, show_progress=progress), np.float32)
        flat = [c.text[a:b] for c, ss in zip(chunks, spans) for a, b in ss]
        encode = embedder.encode_uncached_queries if mode == "query" else embedder.encode_passages
        flat_vecs = np.asarray(encode(flat), np.float32) if flat else np.zeros((0, dim), np.float32)
        bounds = np.cumsum([0] + [len(ss) for ss in spans])
        per_chunk = [flat_vecs[bounds[i] : bounds[i + 1]] for i in range(len(chunks))]
    return np.asarray(vectors, np.float32), sentence_vectors.pack(list(zip(spans, per_chunk)), dim)


def load_documents(
    paths: list[Path], settings: Settings, overrides: dict | None = None, progress: bool = False
) -> tuple[list[Document], list[str]]:
    """Documents under `paths` (one per id) and the reasons ("path: reason") for those skipped.

    Scanned pages are read by OCR as `settings` say (ocr, ocr_langs, ocr_dpi, ocr_workers); what a
    file loses inside (a page OCR could not read) is in its Document.notes.
    """
    ocr = options_from(settings, progress)
    docs, errors = iter_documents(paths, overrides, max_bytes=settings.max_file_mb * 2**20, ocr=ocr)
    reasons = [f"{e.path}: {e.reason}" for e in errors]
    unique: dict[str, Document] = {}
    for d in docs:
        if d.doc_id in unique:
            reasons.append(f"{d.source_path}: same document id {d.doc_id!r} as {unique[d.doc_id].source_path}")
        else:
            unique[d.doc_id] = d
    return list(unique.values()), reasons


def _load_into(
    report: BuildReport, paths: list[Path], settings: Settings, overrides: dict | None, progress: bool = False
) -> list[Document]:
    docs, reasons = load_documents(paths, settings, overrides, progress)
    report.errors.extend(reasons)
    report.notes.extend(f"{d.source_path}: {note}" for d in docs for note in d.notes)
    return docs


def build_index(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    progress: bool = False,
    overrides: dict | None = None,
) -> BuildReport:
    """Index exactly `paths` (files or folders) as a fresh version; `overrides` set metadata for all of them."""
    with _writing(settings) as (store, report):
        docs = _load_into(report, paths, settings, overrides, progress)
        if not docs:
            raise SearchEngineError(
                "no document could be indexed; the current index is unchanged. " + "; ".join(report.errors[:5])
            )
        embedder = _embedder(settings, embedder)
        mode = _sentence_mode(settings, store)
        content = document_content(docs, settings, embedder, progress, mode)
        report.added = [d.doc_id for d in docs]
        report.version = store.write(content, _manifest(settings, embedder, mode))
        report.chunks = len(content.chunks)
    return report


def add_documents(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    progress: bool = False,
    overrides: dict | None = None,
) -> BuildReport:
    """Add new documents, replace changed ones (text, title or metadata), skip unchanged ones.

    Only the new and changed documents are embedded and written (IndexStore.add). `overrides` (title, date,
    year, source, type, as from CLI flags) apply to every file of the call.
    """
    with _writing(settings) as (store, report):
        docs = _load_into(report, paths, settings, overrides, progress)
        embedder = _embedder(settings, embedder)
        known: dict = {}
        mode = _sentence_mode(settings, store)
        if store.current_name() is not None:
            version = store.open_current()
            check_index_model(version.manifest, embedder, version.name)
            check_compatible(version.manifest, embedder.name, CHUNKER_VERSION)
            mode = _sentence_mode(settings, store, version.manifest)
            known = version.known_documents()
            report.chunks = version.n_chunks
            stale = version.manifest.get("tokenizer", "1") != textnorm.TOKENIZER_VERSION
            version.close()
            if stale:  # made by another tokenizer: BM25 tokens anew first, or old and new passages would not meet
                report.version = _retokenize(store)
        # A new title or metadata (a sidecar or flag edited) counts as a change: the title is embedded with
        # every chunk and filters read the metadata.
        changed = []
        for d in docs:
            if d.doc_id not in known:
                report.added.append(d.doc_id)
                changed.append(d)
            elif known[d.doc_id] == (d.content_hash, d.title, d.meta):
                report.unchanged.append(d.doc_id)
            else:
                report.replaced.append(d.doc_id)
                changed.append(d)
        if changed:
            content = document_content(changed, settings, embedder, progress, mode)
            report.version = store.add(content, _manifest(settings, embedder, mode), tuple(report.replaced))
            report.chunks = _live_chunks(store)
        else:
            report.version = store.current_name() or ""
    return report


def _retokenize(store: IndexStore) -> str:
    """Write the current index anew with this tokenizer's BM25 tokens; vectors are kept, nothing is embedded."""
    version = store.open_current()
    try:
        content = version.content()
        manifest = carried_manifest(version.manifest)
    finally:
        version.close()
    content.tokens = [textnorm.tokenize(c.embedding_text()) for c in content.chunks]
    manifest["tokenizer"] = textnorm.TOKENIZER_VERSION
    return store.write(content, manifest)


def retokenize_index(settings: Settings) -> BuildReport:
    """The index re-tokenised by this version's tokenizer (numbers folded since tokenizer 2), vectors kept."""
    with _writing(settings) as (store, report):
        report.version = _retokenize(store)
        report.chunks = _live_chunks(store)
    return report


def _live_chunks(store) -> int:
    version = store.open_current()
    try:
        return version.n_chunks
    finally:
        version.close()


def remove_documents(doc_ids: list[str], settings: Settings) -> BuildReport:
    """Drop documents by id (a deletion record; no document is rewritten); unknown ids are reported, not fatal."""
    with _writing(settings) as (store, report):
        version = store.open_current()
        known = set(version.doc_ids)
        version.close()
        for doc_id in doc_ids:
            if doc_id in known:
                report.removed.append(doc_id)
            else:
                report.errors.append(f"{doc_id}: no such document in the index")
        if report.removed:
            report.version = store.delete(tuple(report.removed))
        else:
            report.version = version.name
        report.chunks = _live_chunks(store)
    return report


def optimize_index(settings: Settings) -> BuildReport:
    """Merge the index into as few segments as the backend allows (same search results, faster search)."""
    with _writing(settings) as (store, report):
        report.version = store.optimize()
        report.chunks = _live_chunks(store)
    return report


def refresh_metadata(settings: Settings) -> BuildReport:
    """Re-derive every document's year and type with the current rules, without re-embedding anything.

    Sidecars next to the original files are read again when the files are still there. Documents whose
    metadata does not change are reported unchanged; a new version is written only if one changed.
    """
    from indexer.documents import read_sidecar
    from indexer.metadata import refreshed

    with _writing(settings) as (store, report):
        version = store.open_current()
        base = version.content()
        manifest = carried_manifest(version.manifest)  # the model, adapter and tokenizer stay recorded
        name = version.name
        version.close()
        for doc in base.documents:
            source = Path(doc.source_path) if doc.source_path else None
            sidecar = _sidecar_of(source, read_sidecar, report)
            meta = refreshed(doc.title, doc.text, doc.meta, sidecar)
            if meta != doc.meta:
                doc.meta = meta
                report.replaced.append(doc.doc_id)
            else:
                report.unchanged.append(doc.doc_id)
        report.version = store.write(base, manifest) if report.replaced else name
        report.chunks = len(base.chunks)
    return report


def _sidecar_of(source: Path | None, read_sidecar, report: BuildReport) -> dict:
    if source is None or not source.exists():
        return {}
    try:
        return read_sidecar(source)
    except DocumentError as exc:  # a broken sidecar: keep what the index has
        report.errors.append(f"{exc.path}: {exc.reason}")
        return {}


def list_documents(settings: Settings) -> list[dict]:
    version = open_store(settings).open_current()
    try:
        return version.documents()
    finally:
        version.close()
