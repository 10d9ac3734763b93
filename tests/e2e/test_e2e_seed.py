"""End to end with the real model: index seeds/, ask natural questions through engine, API, page and CLI.

The questions are paraphrases written for this test, not sentences copied from the
speech; each must find the intended point (its heading) in the top 3.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest

from indexer.config import PROJECT_ROOT
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from tests.support.settings import test_settings

pytestmark = pytest.mark.slow

# (question, a phrase of the heading of the point that answers it)
QUESTIONS = [
    ("怎样防范意识形态领域的风险隐患", "筑牢意识形态安全屏障"),
    ("文明创建如何从应付检查转向常态长效", "巩固全国文明城市创建工作成果"),
    ("怎么把正面宣传的声音放大，讲好本地故事", "做大做强主流思想舆论"),
    ("组织宣讲团到基层面对面解读全会精神", "多渠道发力"),
    ("学到的东西怎样变成推动工作的实际成效", "推动学习成果转化"),
    ("为什么说确立核心地位和指导思想意义重大", "“两个确立”"),
    ("How should the district guard against risks in ideology?", "筑牢意识形态安全屏障"),
    ("如何完整准确地把全会精神传达给干部群众", "全面准确、系统深入宣传"),
]


@pytest.fixture(scope="module")
def seed_settings(tmp_path_factory, real_model_dir):
    settings = test_settings(index_dir=tmp_path_factory.mktemp("seed-index"), model=str(real_model_dir))
    report = build_index([PROJECT_ROOT / "seeds"], settings)
    assert report.added and not report.errors
    return settings


@pytest.fixture(scope="module")
def engine(seed_settings):
    return SearchEngine.open(seed_settings)


def _hit_in_top3(results: list[dict], heading_phrase: str) -> bool:
    return any(heading_phrase in " > ".join(r["heading_path"]) for r in results[:3])


@pytest.mark.parametrize(("question", "heading"), QUESTIONS)
def test_engine_finds_the_point(engine, question, heading):
    results = [r.to_dict() for r in engine.search(question, k=5).results]
    assert _hit_in_top3(results, heading), [r["heading_path"] for r in results[:3]]


def test_dense_mode_alone_handles_paraphrase(engine):
    hits = sum(
        _hit_in_top3([r.to_dict() for r in engine.search(q, k=3, mode="dense").results], h) for q, h in QUESTIONS
    )
    assert hits >= len(QUESTIONS) - 1


@pytest.fixture(scope="module")
def server(seed_settings, engine):
    from search_app import create_app
    from search_app.serving import make_server

    srv = make_server(create_app(seed_settings, engine=engine), "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.read().decode("utf-8")


def test_api_and_page_agree_with_the_engine(server):
    question, heading = QUESTIONS[0]
    status, body = _get(f"{server}/api/search?" + urllib.parse.urlencode({"q": question, "k": 3}))
    assert status == 200
    data = json.loads(body)
    assert data["query"] == question and _hit_in_top3(data["results"], heading)
    status, html = _get(f"{server}/?" + urllib.parse.urlencode({"q": question}))
    assert status == 200 and heading in html.split("</ol>")[0]
    req = urllib.request.Request(
        f"{server}/api/search/batch",
        data=json.dumps({"queries": [q for q, _ in QUESTIONS[:4]], "k": 3}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        batch = json.loads(resp.read())["results"]
    assert [b["query"] for b in batch] == [q for q, _ in QUESTIONS[:4]]
    assert all(_hit_in_top3(b["results"], h) for b, (_, h) in zip(batch, QUESTIONS[:4]))


def test_cli_jsonl(seed_settings, tmp_path):
    qfile = tmp_path / "q.txt"
    qfile.write_text("\n".join(q for q, _ in QUESTIONS), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "search_app", "query", "--index", str(seed_settings.index_dir), "--k", "3",
         "--format", "jsonl", "--file", str(qfile)],
        capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT,
        env={"POLICY_SEARCH_MODEL": seed_settings.model, "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == len(QUESTIONS)
    hits = sum(_hit_in_top3(obj["results"], h) for obj, (_, h) in zip(lines, QUESTIONS))
    assert hits == len(QUESTIONS)
