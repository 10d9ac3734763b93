"""The two eval suites (policy corpus, CMRC paragraphs): their sources, and their indexes under data/index-eval/,
built, rebuilt on a model change, or re-tokenised when the tokenizer changed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from indexer.config import PROJECT_ROOT, Settings
from indexer.tools.eval.queries import (
    CMRC_DOCS_DIR,
    CMRC_QUERIES,
    CORPUS_DIR,
    INDEX_EVAL_DIR,
    POLICY_QUERIES,
    convert_cmrc,
)


def policy_sources() -> list[Path]:
    """The seed speech(es) and the policy corpus, .txt only (SOURCES.md is not a document)."""
    return sorted((PROJECT_ROOT / "seeds").glob("*.txt")) + sorted(CORPUS_DIR.rglob("*.txt"))


def cmrc_sources() -> list[Path]:
    """CMRC paragraphs as files, regenerated from the JSON (with the query file) each time."""
    convert_cmrc()
    return sorted(CMRC_DOCS_DIR.glob("*.txt"))


@dataclass(frozen=True)
class Suite:
    """A query set together with the documents it was written over and its own index folder."""

    name: str
    queries: Path
    index_dir: Path
    sources: Callable[[], list[Path]]  # the files to index, called at build time


SUITES = {
    "policy": Suite("policy", POLICY_QUERIES, INDEX_EVAL_DIR / "policy", policy_sources),
    "cmrc": Suite("cmrc", CMRC_QUERIES, INDEX_EVAL_DIR / "cmrc", cmrc_sources),
}


def model_change(index_dir: Path, settings: Settings, embedder=None) -> str | None:
    """Why a suite's existing index does not fit the configured model and adapter, or `embedder`'s when given
    (None: it fits, or there is none): `make eval` then rebuilds it instead of stopping at the engine's mismatch
    error."""
    from indexer.model_identity import describe_model, embedder_identity, index_identity, same_model, settings_identity
    from indexer.store import read_manifest

    manifest = read_manifest(index_dir) or {}
    if "model" not in manifest:
        return None
    built = index_identity(manifest)
    here = embedder_identity(embedder) if embedder is not None else settings_identity(settings)
    return None if same_model(built, here) else f"built with {describe_model(*built)}, now {describe_model(*here)}"


def build_suite(suite: Suite, settings: Settings, embedder=None, progress: bool = True):
    """Build the suite's index afresh (a new version in its folder); returns the BuildReport."""
    from indexer.pipeline import build_index

    settings = replace(settings, index_dir=suite.index_dir)
    return build_index(suite.sources(), settings, embedder=embedder, progress=progress)


def retokenize_if_stale(index_dir: Path, settings: Settings) -> None:
    """A suite index tokenised by another tokenizer version is re-tokenised in place (vectors kept)."""
    import dataclasses

    from indexer.backend import open_store
    from indexer.pipeline import retokenize_index
    from indexer.textnorm import TOKENIZER_VERSION

    suite_settings = dataclasses.replace(settings, index_dir=index_dir)
    version = open_store(suite_settings).open_current()
    try:
        stale = version.manifest.get("tokenizer", "1") != TOKENIZER_VERSION
    finally:
        version.close()
    if stale:
        report = retokenize_index(suite_settings)
        print(f"re-tokenised {index_dir} (tokenizer {TOKENIZER_VERSION}): {report.chunks} chunks", file=sys.stderr)
