"""Crash safety: a killed indexer leaves the old index serving; a damaged index is reported clearly.

The kill tests start the indexer as a separate process and SIGKILL it once it is under way
(it holds the writer lock; in the second test a new version's .tmp-* folder exists). The old
version must then open and answer exactly as before, and the next build must succeed and
remove the dead writer's leftovers. The damage tests truncate or delete files of a built
index and check the app (503 with the reason, JSON and page) and both CLIs (exit 1, message).
"""

from __future__ import annotations

import fcntl
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from indexer.config import PROJECT_ROOT
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.store import current_version_name
from search_app import cli, create_app
from tests.support.corpus import CORPUS_DIR
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings

SMALL_DOCS = ["第十三届全国人民代表大会第三次会议关于政府工作报告的决议.txt",
              "第十四届全国人民代表大会第二次会议关于政府工作报告的决议.txt"]
QUERIES = ["意识形态安全", "文明城市创建", "理论学习", "宣传思想工作"]


@pytest.fixture
def built(tmp_path):
    """A real index of seeds/ (fake embedder) plus the answers it gives before anything happens."""
    settings = test_settings(tmp_path)
    build_index([PROJECT_ROOT / "seeds"], settings, embedder=FakeEmbedder())
    before = answers(settings)
    assert all(before)
    return settings, before


def answers(settings) -> list[list[tuple[str, float]]]:
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    return [
        [(r.chunk_id, r.score) for r in engine.search(q, k=5, mode=mode).results]
        for q in QUERIES
        for mode in ("lexical", "hybrid")
    ]


def lock_is_held(index_dir: Path) -> bool:
    with open(index_dir / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"indexer ended (rc {proc.returncode}) before it could be killed: "
                                 f"{proc.stderr.read().decode(errors='replace')[-2000:]}")
        assert time.monotonic() < deadline, "the indexer never got under way"
        time.sleep(0.01)


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def assert_old_index_intact_then_rebuild(settings, before, old_name: str) -> None:
    assert current_version_name(settings.index_dir) == old_name
    assert answers(settings) == before  # same chunks, same scores
    client = create_app(settings, engine=SearchEngine(settings, embedder=FakeEmbedder())).test_client()
    resp = client.get("/api/search?q=意识形态&mode=lexical")
    assert resp.status_code == 200 and resp.get_json()["results"]
    report = build_index([PROJECT_ROOT / "seeds"], settings, embedder=FakeEmbedder())  # the next build
    assert report.version != old_name and current_version_name(settings.index_dir) == report.version
    segments = settings.index_dir / "segments"
    assert not list(segments.glob(".tmp-*")) and not list(settings.index_dir.glob(".CURRENT.*.tmp"))


@pytest.mark.slow
def test_sigkill_during_a_large_build_keeps_the_old_index(built):
    """`python -m indexer build` over the whole government-report corpus, killed once it is under way."""
    settings, before = built
    old = current_version_name(settings.index_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "indexer", "build", "--quiet", "--index", str(settings.index_dir),
         str(CORPUS_DIR / "gov-work-reports")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        wait_for(lambda: lock_is_held(settings.index_dir), proc)  # it is loading documents / the model
        time.sleep(2)
        assert proc.poll() is None, "the build finished before the kill: use a larger input"
    finally:
        kill(proc)
    assert_old_index_intact_then_rebuild(settings, before, old)


# The same CLI entry point, with the fake embedder (no model to load) and one step slowed down, so the kill
# lands in the middle of a write: STEP names the function that then sleeps (after doing its work).
SLOW_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import indexer.embedding, indexer.store.segments, indexer.store.faiss_store
    from tests.support.fakes import FakeEmbedder
    indexer.embedding.load_embedder = lambda settings=None: FakeEmbedder()
    module, name = os.environ["STEP"].rsplit(".", 1)
    module = sys.modules[module]
    real = getattr(module, name)
    def slow(*args, **kwargs):
        out = real(*args, **kwargs)
        print("writing", flush=True)
        time.sleep(120)
        return out
    setattr(module, name, slow)
    from indexer.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def run_slowed(settings, step: str, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, argv[0], "--quiet", "--index", str(settings.index_dir), *argv[1:]],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "STEP": step},
    )


def half_written_segment(settings) -> bool:
    return any((t / "chunks.sqlite").exists() for t in (settings.index_dir / "segments").glob(".tmp-*"))


@pytest.mark.slow  # a real indexer process, killed
def test_sigkill_while_writing_a_version_keeps_the_old_index(built):
    settings, before = built
    old = current_version_name(settings.index_dir)
    docs = [str(CORPUS_DIR / "gov-work-reports" / name) for name in SMALL_DOCS]
    proc = run_slowed(settings, "indexer.store.segments._write_sqlite", "build", *docs)
    try:
        wait_for(lambda: half_written_segment(settings), proc)
    finally:
        kill(proc)
    (tmp,) = (settings.index_dir / "segments").glob(".tmp-*")
    assert not (tmp / "segment.json").exists()  # really half written
    assert_old_index_intact_then_rebuild(settings, before, old)


@pytest.mark.slow  # a real indexer process, killed
def test_sigkill_during_an_add_keeps_the_last_manifest(built):
    """Killed while the added documents' segment is half written: CURRENT still lists the old segments."""
    settings, before = built
    old = current_version_name(settings.index_dir)
    docs = [str(CORPUS_DIR / "gov-work-reports" / name) for name in SMALL_DOCS]
    proc = run_slowed(settings, "indexer.store.segments._write_sqlite", "add", *docs)
    try:
        wait_for(lambda: half_written_segment(settings), proc)
    finally:
        kill(proc)
    assert_old_index_intact_then_rebuild(settings, before, old)


@pytest.mark.slow  # a real indexer process, killed
def test_sigkill_during_a_remove_keeps_the_last_manifest(built):
    """Killed after the new manifest's history copy is written but before CURRENT is replaced by it."""
    settings, before = built
    old = current_version_name(settings.index_dir)
    doc_id = SearchEngine.open(settings, embedder=FakeEmbedder()).documents()[0]["doc_id"]
    proc = run_slowed(settings, "indexer.store.faiss_store.atomic_write_text", "remove", doc_id)
    try:
        wait_for(lambda: len(list((settings.index_dir / "manifests").glob("g*.json"))) > 1, proc)
    finally:
        kill(proc)
    assert_old_index_intact_then_rebuild(settings, before, old)


@pytest.mark.slow  # a real indexer process, killed
def test_sigkill_during_a_merge_keeps_the_last_manifest(built):
    """`optimize` killed while the merged segment is half written: the unmerged segments keep serving."""
    settings, _ = built
    docs = [str(CORPUS_DIR / "gov-work-reports" / name) for name in SMALL_DOCS]
    from indexer.pipeline import add_documents

    add_documents([Path(d) for d in docs], settings, embedder=FakeEmbedder())  # now two segments
    before, old = answers(settings), current_version_name(settings.index_dir)
    proc = run_slowed(settings, "indexer.store.segments._write_sqlite", "optimize")
    try:
        wait_for(lambda: half_written_segment(settings), proc)
    finally:
        kill(proc)
    assert_old_index_intact_then_rebuild(settings, before, old)


# ---------------------------------------------------------------- damaged index at load


def _live(settings) -> Path:
    from indexer.store import read_manifest

    return settings.index_dir / "segments" / read_manifest(settings.index_dir)["segments"][-1]["name"]


def truncate_vectors(settings) -> str:
    path = _live(settings) / "vectors.faiss"
    path.write_bytes(path.read_bytes()[:100])
    return "missing or truncated"


def delete_manifest(settings) -> str:
    (_live(settings) / "segment.json").unlink()
    return "no manifest (half-written?)"


def garble_sqlite(settings) -> str:
    path = _live(settings) / "chunks.sqlite"
    path.write_bytes(b"\x00" * path.stat().st_size)  # same size: only reading it can tell
    return "cannot be read"


def dangling_current(settings) -> str:
    (settings.index_dir / "CURRENT").write_text("v999999-gone\n", encoding="utf-8")
    return "names version v999999-gone, which does not exist"


@pytest.mark.parametrize("damage", [truncate_vectors, delete_manifest, garble_sqlite, dangling_current])
def test_damaged_index_is_reported_clearly_by_app_and_clis(built, damage):
    settings, _ = built
    reason = damage(settings)
    client = create_app(settings).test_client()  # the real engine, opened on the first request
    resp = client.get("/api/search?q=发展&mode=lexical")
    assert resp.status_code == 503 and reason in resp.get_json()["error"]
    page = client.get("/?q=发展&mode=lexical")
    assert page.status_code == 503 and "搜索服务暂不可用" in page.get_data(as_text=True)
    assert reason in page.get_data(as_text=True).replace("&#39;", "'")
    health = client.get("/api/health")
    assert health.status_code == 503 and reason in health.get_json()["error"]

    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["query", "--index", str(settings.index_dir), "发展"], stdout=out, stderr=err)
    assert code == cli.EXIT_BROKEN and reason in err.getvalue() and err.getvalue().startswith("error: ")

    from indexer.cli import main as indexer_main

    err = io.StringIO()
    old_stderr, sys.stderr = sys.stderr, err
    try:
        code = indexer_main(["list", "--index", str(settings.index_dir)])
    finally:
        sys.stderr = old_stderr
    assert code == 1 and reason in err.getvalue()


def test_a_damaged_new_version_does_not_stop_the_served_one(built):
    """The app keeps serving the version it has open when the next one turns out broken."""
    settings, _ = built
    engine = SearchEngine(settings, embedder=FakeEmbedder())
    client = create_app(settings, engine=engine).test_client()
    first = client.get("/api/search?q=意识形态&mode=lexical").get_json()
    assert first["results"]
    build_index([PROJECT_ROOT / "seeds"], settings, embedder=FakeEmbedder())
    delete_manifest(settings)
    again = client.get("/api/search?q=意识形态&mode=lexical")
    assert again.status_code == 200 and again.get_json()["results"] == first["results"]
