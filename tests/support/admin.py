"""The admin API behind a real index of one seed file (real pipeline and store, fake embedder), and uploads to it."""

from __future__ import annotations

import io
from pathlib import Path

from indexer.config import Settings
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from search_app import create_app
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings

TOKEN = "admin-s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def admin_app(tmp_path: Path, seed: str, **overrides):
    """(settings, test client) of an app with the admin API on (TOKEN), its index built from `seed` as
    seeds/2024年工作要点.txt; uploads up to 1 MB unless `overrides` say otherwise."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "2024年工作要点.txt").write_text(seed, encoding="utf-8")
    settings: Settings = test_settings(
        tmp_path, **{"admin_token": TOKEN, "seeds_dir": seeds, "max_upload_mb": 1, **overrides}
    )
    embedder = FakeEmbedder()
    build_index([seeds], settings, embedder=embedder)
    engine = SearchEngine(settings, embedder=embedder)
    return settings, create_app(settings, engine=engine).test_client()


def upload(client, *files: tuple[str, bytes], headers: dict | None = None, **form):
    """POST `files` ((name, bytes) pairs) to the admin upload endpoint, with the admin token unless `headers`."""
    data = dict(form)
    data["file"] = [(io.BytesIO(content), name) for name, content in files]
    return client.post(
        "/api/admin/documents", data=data, headers=AUTH if headers is None else headers,
        content_type="multipart/form-data",
    )
