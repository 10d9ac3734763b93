"""Load: concurrent searches over loopback while an admin adds and then removes a document.

The app runs under waitress (8 threads) over a real index built with the real model. Eight
client threads send /api/search requests (varied queries, modes, k and filters) until the
writer is done and at least MIN_REQUESTS were made (at most MAX_REQUESTS, at most TIME_CAP
seconds). Meanwhile a writer thread uploads a new document through POST /api/admin/documents,
waits for traffic on the new version, deletes it through DELETE /api/admin/documents/<id>,
and waits again. Every response must be a 200 holding a complete, valid SearchResponse whose
ranked passages are exactly what one of the three index versions (before, with, after the
document) answers for that request; /api/health may only report those versions.
The figures are printed (run with -s to see them).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest

from indexer.filters import Filters
from indexer.models import SearchResponse, SearchResult
from indexer.retrieval import SearchEngine
from search_app import create_app
from tests.support.realindex import EXTRA_DOC, real_index, serve

pytestmark = pytest.mark.slow

CLIENTS = 8
MIN_REQUESTS, MAX_REQUESTS, TIME_CAP = 200, 5000, 90.0  # clients run until the writer is done
PAUSE = 0.02  # seconds each client waits between requests (keeps the total near a few hundred)
TOKEN = "load-test-token"
# (query, mode, k, filters): paraphrases, keywords, English, and some that the new document answers.
REQUESTS = [
    ("怎样防范意识形态领域的风险隐患", "hybrid", 5, {}),
    ("文明城市创建常态长效", "dense", 10, {}),
    ("讲好本地故事", "lexical", 3, {}),
    ("政府工作报告 决议 批准", "hybrid", 10, {"type": "resolution"}),
    ("全国人民代表大会第四次会议", "lexical", 10, {}),
    ("十三五规划纲要", "hybrid", 5, {}),
    ("How to guard against ideological risks", "dense", 5, {}),
    ("学习成果转化为工作实效", "hybrid", 8, {"year_from": "2021"}),
    ("稳就业 保民生", "lexical", 10, {"type": "resolution"}),
    ("宣讲团 基层", "hybrid", 4, {}),
    ("高质量发展", "hybrid", 10, {}),
    ("第十二届全国人民代表大会", "dense", 6, {"type": "resolution"}),
]
RESULT_KEYS = {f.name for f in dataclasses.fields(SearchResult)}  # a complete result: every field
RESPONSE_KEYS = {f.name for f in dataclasses.fields(SearchResponse)}  # the research fields come after the four


def _filters(f: dict) -> Filters:
    return Filters(
        year_from=int(f["year_from"]) if "year_from" in f else None,
        doc_types=(f["type"],) if "type" in f else (),
    )


def expected_for(settings, embedder) -> tuple[str, list[list[str]]]:
    """What the index version now current answers for each request (chunk ids in rank order)."""
    engine = SearchEngine.open(settings, embedder=embedder)
    out = [[r.chunk_id for r in engine.search(q, k=k, mode=m, filters=_filters(f)).results] for q, m, k, f in REQUESTS]
    return engine.version.name, out


def _call(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read(), time.perf_counter() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.perf_counter() - t0


def _multipart(path) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''"
        f"{urllib.parse.quote(path.name)}\r\nContent-Type: text/plain\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Run:
    """What the clients, the writer and the checks share during one load run."""

    base: str
    settings: object
    engine: SearchEngine
    expected: dict[str, list[list[str]]]  # version name -> chunk ids per request
    started: float = field(default_factory=time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)  # the writer has finished
    clients_left: int = CLIENTS
    records: list[dict] = field(default_factory=list)  # one per request: i, status, secs, body, start, end
    health_versions: list[str] = field(default_factory=list)
    writer: dict = field(default_factory=dict)

    def wait_for_traffic(self, n: int) -> None:
        target = len(self.records) + n
        while len(self.records) < target and self.clients_left and time.perf_counter() - self.started < TIME_CAP:
            time.sleep(0.01)

    def record_version(self, name: str) -> None:
        self.expected[name] = expected_for(self.settings, self.engine.embedder)[1]


@pytest.fixture
def load_server(tmp_path, real_model_dir):
    """A real index served by waitress with the admin API on; yields the Run before any traffic."""
    settings = real_index(tmp_path, real_model_dir, admin_token=TOKEN, uploads_dir=tmp_path / "uploads",
                          seeds_dir=tmp_path / "no-seeds")
    engine = SearchEngine.open(settings)
    engine.warm_up()
    v1, expected_v1 = expected_for(settings, engine.embedder)  # also fills the query-vector cache
    with serve(create_app(settings, engine=engine), threads=8) as base:
        yield Run(base, settings, engine, {v1: expected_v1})


def writer(run: Run) -> None:
    """Upload EXTRA_DOC, wait for traffic on the new version, delete it, wait again."""
    try:
        run.wait_for_traffic(20)
        body, ctype = _multipart(EXTRA_DOC)
        run.writer["start"] = time.perf_counter()
        status, raw, secs = _call("POST", f"{run.base}/api/admin/documents", body,
                                  {"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}"})
        report = json.loads(raw)
        assert status == 200 and len(report["added"]) == 1, raw[:500]
        run.writer.update(add_seconds=secs, new_doc=report["added"][0], v2=report["version"])
        run.record_version(report["version"])
        run.wait_for_traffic(40)
        doc_id = urllib.parse.quote(run.writer["new_doc"])
        status, raw, secs = _call("DELETE", f"{run.base}/api/admin/documents/{doc_id}",
                                  headers={"X-Admin-Token": TOKEN})
        assert status == 200, raw[:500]
        run.writer.update(remove_seconds=secs, v3=json.loads(raw)["version"])
        run.record_version(run.writer["v3"])
        run.writer["end"] = time.perf_counter()
        run.wait_for_traffic(40)
    except BaseException as exc:  # reported by the main thread
        run.writer["error"] = repr(exc)
    finally:
        run.done.set()


def client(run: Run, n: int) -> None:
    """Search (every CLIENTS-th request from n on) until the writer is done and enough requests were made."""
    try:
        i = n
        while True:
            with run.lock:
                total = len(run.records)
            elapsed = time.perf_counter() - run.started
            if total >= MAX_REQUESTS or elapsed > TIME_CAP or (run.done.is_set() and total >= MIN_REQUESTS):
                return
            q, mode, k, f = REQUESTS[i % len(REQUESTS)]
            url = f"{run.base}/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode, "k": k, **f})
            t0 = time.perf_counter()
            status, raw, secs = _call("GET", url)
            with run.lock:
                run.records.append({"i": i % len(REQUESTS), "status": status, "secs": secs, "body": raw,
                                    "start": t0, "end": t0 + secs})
            if i % 10 == 0:
                hs, hraw, _ = _call("GET", f"{run.base}/api/health")
                with run.lock:
                    run.health_versions.append(json.loads(hraw)["version"] if hs == 200 else f"HTTP {hs}")
            i += CLIENTS
            time.sleep(PAUSE)
    finally:
        with run.lock:
            run.clients_left -= 1


def check_records(run: Run, docs: set[str]) -> tuple[list[str], dict[str, int]]:
    """Errors (bad status, shape or ranking) and how many answers matched each version."""
    errors, matched = [], {}
    for rec in run.records:
        if rec["status"] != 200:
            errors.append(f"HTTP {rec['status']}: {rec['body'][:200]!r}")
            continue
        body = json.loads(rec["body"])  # a truncated body would not parse
        q, mode, k, _ = REQUESTS[rec["i"]]
        results = body["results"]
        ok = (
            list(body)[:4] == ["query", "took_ms", "mode", "results"] and set(body) <= RESPONSE_KEYS
            and body["query"] == q.strip() and body["mode"] == mode and len(results) <= k
            and [r["rank"] for r in results] == list(range(1, len(results) + 1))
            and all(set(r) == RESULT_KEYS and r["doc_id"] in docs for r in results)
        )
        chunk_ids = [r["chunk_id"] for r in results]
        which = [v for v in sorted(run.expected) if run.expected[v][rec["i"]] == chunk_ids]
        if not ok or not which:
            errors.append(f"request {rec['i']} ({q}, {mode}): unexpected answer {chunk_ids}")
        else:
            key = "=".join(v.split("-")[0] for v in which)  # e.g. "v000001=v000003": same answer in both
            matched[key] = matched.get(key, 0) + 1
    return errors, matched


def test_concurrent_searches_during_add_and_remove(load_server: Run):
    run = load_server
    (v1,) = run.expected
    old_docs = {d["doc_id"] for d in run.engine.documents()}
    threads = [threading.Thread(target=client, args=(run, n)) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=writer, args=(run,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=TIME_CAP + 60)
    duration = time.perf_counter() - run.started

    w = run.writer
    assert "error" not in w, w.get("error")
    errors, matched = check_records(run, old_docs | {w["new_doc"]})
    records = run.records
    overlapping = sum(1 for r in records if r["start"] < w["end"] and r["end"] > w["start"])
    latencies = sorted(r["secs"] for r in records)
    differs = sum(1 for i in range(len(REQUESTS)) if run.expected[v1][i] != run.expected[w["v2"]][i])
    print(
        f"\nLOAD: {len(records)} searches + {len(run.health_versions)} health checks, {CLIENTS} concurrent clients, "
        f"waitress 8 threads, {duration:.1f}s, {len(records) / duration:.1f} searches/s; errors {len(errors)}; "
        f"latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"{overlapping} searches overlapped the admin add/remove; add {w['add_seconds']:.1f}s, "
        f"remove {w['remove_seconds']:.1f}s; answers by version {matched}; "
        f"{differs}/{len(REQUESTS)} requests answer differently with the new document; "
        f"health saw {sorted(set(run.health_versions))}"
    )
    assert not errors, errors[:5]
    assert MIN_REQUESTS <= len(records) <= MAX_REQUESTS + CLIENTS
    # A remove may publish more than one manifest (the deletion, then a merge of what it left): health may
    # report any version the writer published, in order, and nothing else (no error, no unknown name).
    published = {v1} | {v for v in run.health_versions if w["v2"] <= v <= w["v3"]}
    assert set(run.health_versions) <= published and len(set(run.health_versions)) >= 2, run.health_versions
    assert overlapping > 0 and differs > 0
    assert any(key.startswith(w["v2"].split("-")[0]) for key in matched)  # v2 was really served
