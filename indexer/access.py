"""Which documents a reader may see: collections as row and document masks, for every backend.

A document's collections live in its metadata (`meta["collections"]`, written by the loader; a document
indexed before collections existed belongs to `DEFAULT_COLLECTION`). A *scope* is the set of collections a
request may read (its access, narrowed by the collections it chose); `None` means no limit (offline tools).
Backends turn a scope into an allowed-rows mask through `allowed_rows(..., collections=scope)`, the same path
as every other filter, so dense search, BM25 and every listing are limited before anything is ranked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import numpy as np

from indexer.metadata import DEFAULT_COLLECTION

Scope = frozenset[str] | None

_LOCK = threading.Lock()


def collections_of(meta: dict | None) -> list[str]:
    """A document's collections from its metadata (the default one when none was recorded)."""
    raw = (meta or {}).get("collections")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, (list, tuple)) and raw:
        return [str(c) for c in raw]
    return [DEFAULT_COLLECTION]


def narrow(readable: Scope, chosen: Iterable[str] = ()) -> Scope:
    """The scope of a request: what it may read, narrowed to what it chose (empty choice: all it may read)."""
    chosen = frozenset(chosen)
    if not chosen:
        return readable
    return chosen if readable is None else chosen & readable


def _masks(version) -> dict[str, np.ndarray]:
    """Per-collection document masks of one loaded version, built once (versions never change)."""
    masks = getattr(version, "_collection_masks", None)
    if masks is None:
        with _LOCK:
            masks = getattr(version, "_collection_masks", None)
            if masks is None:
                n = len(version.doc_meta)
                masks = {}
                for i, meta in enumerate(version.doc_meta):
                    for name in collections_of(meta):
                        masks.setdefault(name, np.zeros(n, dtype=bool))[i] = True
                version._collection_masks = masks
    return masks


def doc_mask(version, scope: Scope) -> np.ndarray | None:
    """Boolean mask over the version's documents visible in `scope`; None when every document is."""
    if scope is None:
        return None
    masks = _masks(version)
    n = len(version.doc_meta)
    out = np.zeros(n, dtype=bool)
    for name in scope:
        m = masks.get(name)
        if m is not None:
            out |= m
    return None if out.all() else out


def visible(version, doc_id: str, scope: Scope) -> bool:
    """Whether a document exists and lies in the scope (an invisible document is, to the caller, missing)."""
    i = version.doc_index_of.get(doc_id)
    if i is None:
        return False
    if scope is None:
        return True
    return bool(scope.intersection(collections_of(version.doc_meta[i])))


def collection_names(version) -> list[str]:
    """Every collection that holds at least one document of the version."""
    return sorted(_masks(version))
