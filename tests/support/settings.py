"""The one way tests build Settings: defaults plus explicit overrides, never the outer environment.

An exported POLICY_SEARCH_MILVUS_URI (or any other variable) must not move a test to another backend.
"""

from __future__ import annotations

from pathlib import Path

from indexer.config import Settings


def test_settings(tmp_path: Path | None = None, **overrides) -> Settings:
    """Settings untouched by the developer's POLICY_SEARCH_* variables; with `tmp_path`, the index lives under it."""
    if tmp_path is not None:
        overrides.setdefault("index_dir", Path(tmp_path) / "index")
    return Settings.from_env(env={}, **overrides)


test_settings.__test__ = False  # a helper, not a test
