"""The query hot path does each piece of per-passage work once (latency, issue 10)."""

import os
import platform
import subprocess
import sys
from collections import Counter

import pytest

from indexer import textnorm
from indexer.config import PROJECT_ROOT
from indexer.machine import MALLOC_HUGE_PAGES, malloc_huge_pages_env
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.sentence_vectors import RowSentences
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings


def test_each_result_passage_is_folded_once(corpus, tmp_path, monkeypatch):
    settings = test_settings(None, index_dir=tmp_path / "index")
    build_index([corpus], settings, embedder=FakeEmbedder())
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert RowSentences.of(engine.version) is not None  # the stored-sentence mark runs as well as the word mark
    folded: Counter[str] = Counter()
    real = textnorm.fold

    def counting(text: str) -> str:
        folded[text] += 1
        return real(text)

    monkeypatch.setattr(textnorm, "fold", counting)
    results = engine.search("意识形态 工作责任制 国内生产总值 宣传", k=5).results
    assert len(results) >= 2
    assert {r.chunk_id: folded[r.text] for r in results} == {r.chunk_id: 1 for r in results}


def test_malloc_huge_pages_env_adds_the_tunable_once():
    env = malloc_huge_pages_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    if platform.libc_ver()[0] != "glibc":
        assert env is None
        return
    assert env == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:" + MALLOC_HUGE_PAGES, "X": "1"}
    assert malloc_huge_pages_env(env) is None  # already there: no second restart


@pytest.mark.skipif(malloc_huge_pages_env({}) is None, reason="not glibc 2.35+")
@pytest.mark.parametrize(("setting", "expected"), [("1", MALLOC_HUGE_PAGES), ("0", "")])
def test_entry_point_restarts_itself_with_huge_page_malloc(setting, expected):
    code = (
        "import os; from indexer.config import Settings; from indexer.machine import restart_with_malloc_huge_pages;"
        "pid = os.getpid(); restart_with_malloc_huge_pages(Settings.from_env());"
        "print(pid, os.environ.get('GLIBC_TUNABLES', ''))"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    env["POLICY_SEARCH_MALLOC_HUGE_PAGES"] = setting
    lines = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert lines[0].split(" ", 1)[1] == expected  # the restarted program printed once, with the tunable (or not)
    assert lines[1] == ""
