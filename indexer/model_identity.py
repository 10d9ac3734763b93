"""Which model and adapter made a set of vectors: a model reference (a local folder or a model id), what an index
records of its model and LoRA adapter, and the check that a query is never compared with vectors of another."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from indexer.config import Settings
from indexer.errors import EmbeddingModelError


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from: a local folder (never any network) or a model id."""

    spec: str  # absolute folder path, or the id as given
    name: str  # identity recorded in indexes
    local: bool


def resolve_model(spec: str) -> ModelRef:
    """A path-like spec or an existing folder is local; anything else is a model id."""
    spec = str(spec).strip()
    if not spec:
        raise EmbeddingModelError("no embedding model configured (POLICY_SEARCH_MODEL is empty)")
    path = Path(spec).expanduser()
    # Model ids are "name" or "org/name"; anything else path-shaped is a folder, even a missing one.
    looks_like_path = path.is_absolute() or spec.startswith((".", "~")) or spec.count("/") > 1 or "\\" in spec
    if path.is_dir() or looks_like_path:
        path = path.resolve()
        return ModelRef(spec=str(path), name=path.name, local=True)
    return ModelRef(spec=spec, name=spec, local=False)


ADAPTER_WEIGHTS = "adapter_model.safetensors"


def adapter_identity(path: str | Path | None) -> dict | None:
    """What an index records about a LoRA adapter: folder name and the weights' sha256 (None: no adapter)."""
    if not path:
        return None
    folder = Path(path).expanduser().resolve()
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise EmbeddingModelError(
            f"adapter folder {folder} has no {ADAPTER_WEIGHTS}; build one with `make adapt` "
            "or unset POLICY_SEARCH_ADAPTER"
        )
    return {"name": folder.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}


def describe_model(name: str | None, adapter: dict | None) -> str:
    """`model` or `model + adapter NAME (sha256 abc123…)`, for messages."""
    if not adapter:
        return f"{name!r} (no adapter)"
    return f"{name!r} + adapter {adapter.get('name')!r} (sha256 {str(adapter.get('sha256'))[:12]}…)"


def embedder_identity(embedder) -> tuple[str | None, dict | None]:
    """(model name, adapter identity or None) of an embedder: what an index records of the model it was built with."""
    return embedder.name, getattr(embedder, "adapter", None)


def settings_identity(settings: Settings) -> tuple[str | None, dict | None]:
    """(model name, adapter identity or None) an index built with these settings records, without loading it."""
    return resolve_model(settings.model).name, adapter_identity(settings.adapter)


def index_identity(manifest: dict) -> tuple[str | None, dict | None]:
    """(model name, adapter identity or None) an index's manifest records."""
    return manifest.get("model"), manifest.get("adapter")


def check_index_model(manifest: dict, embedder, index_name: str) -> None:
    """Raise ModelMismatchError unless the index was built with this embedder's model and adapter."""
    from indexer.errors import ModelMismatchError

    built, here = index_identity(manifest), embedder_identity(embedder)
    if not same_model(built, here):
        raise ModelMismatchError(
            f"the index {index_name} was built with model {describe_model(*built)} but the configured model is "
            f"{describe_model(*here)}; rebuild the index with this model (`python -m indexer build`) or configure "
            "the one it was built with (POLICY_SEARCH_MODEL, POLICY_SEARCH_ADAPTER)"
        )


def same_model(built: tuple[str | None, dict | None], here: tuple[str | None, dict | None]) -> bool:
    """Whether two (model name, adapter identity) pairs make comparable vectors: the same model and the same
    adapter weights (an adapter folder's name is only a label: a renamed copy still fits)."""

    def key(pair: tuple[str | None, dict | None]) -> tuple[str | None, str | None]:
        return pair[0], (pair[1] or {}).get("sha256")

    return key(built) == key(here)
