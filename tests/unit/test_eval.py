"""The evaluation sets are sound, and the eval runner scores a tiny index correctly."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from indexer.config import PROJECT_ROOT, Settings
from indexer.documents import load_document
from indexer.tools.eval.evaluate import evaluate, main
from indexer.tools.eval.judge import Judge
from indexer.tools.eval.queries import (
    CMRC_JSON,
    CMRC_QUERIES,
    CORPUS_DIR,
    POLICY_QUERIES,
    EvalQuery,
    convert_cmrc,
    load_queries,
    split_of,
    write_queries,
)
from indexer.tools.eval.report import format_failures, format_table, summarize, unanswerable
from tests.support.fakes import FakeEmbedder
from tests.support.settings import test_settings

MODES = ("dense", "lexical", "hybrid")

SOURCE_FILES = sorted((PROJECT_ROOT / "seeds").glob("*.txt")) + sorted(CORPUS_DIR.rglob("*.txt"))


# ---------------------------------------------------------------- the policy query set


@pytest.fixture(scope="module")
def policy_queries() -> list[EvalQuery]:
    return load_queries(POLICY_QUERIES)


@pytest.fixture(scope="module")
def sources() -> dict[Path, tuple[str, str, str]]:
    """Each source file with the title the indexer gives it, its raw text and the text the indexer keeps of it
    (white space taken out); loaded once for the module."""
    out = {}
    for path in SOURCE_FILES:
        doc = load_document(path)
        out[path] = (doc.title, path.read_text(encoding="utf-8"), re.sub(r"\s", "", doc.text))
    return out


def test_policy_set_size_and_mix(policy_queries: list[EvalQuery]) -> None:
    kinds = Counter(q.kind for q in policy_queries)
    assert len(policy_queries) >= 230
    assert kinds["paraphrase"] >= 90 and kinds["keyword"] >= 40 and kinds["fact"] >= 30
    assert kinds["english"] >= 30 and kinds["traditional"] >= 20
    assert sum(q.numfmt for q in policy_queries) >= 30
    assert all(q.kind == "fact" for q in policy_queries if q.numfmt)
    assert set(kinds) <= {"paraphrase", "keyword", "fact", "english", "traditional"}
    assert all(re.search(r"[A-Za-z]{3}", q.query) for q in policy_queries if q.kind == "english")


def test_every_answer_occurs_once_verbatim_in_its_one_document(
    policy_queries: list[EvalQuery], sources: dict[Path, tuple[str, str, str]]
) -> None:
    """One intended passage per query: `doc` names exactly one file, which holds the phrase exactly once."""
    problems = []
    for q in policy_queries:
        if not 6 <= len(q.answer) <= 20 or re.search(r"\s", q.answer):
            problems.append(f"{q.id}: answer {q.answer!r} must be 6-20 characters without whitespace")
        matches = [p for p, (title, *_) in sources.items() if q.doc in title or q.doc in p.stem]
        if len(matches) != 1:
            problems.append(f"{q.id}: doc {q.doc!r} matches {len(matches)} files")
            continue
        count = sources[matches[0]][1].count(q.answer)
        if count != 1:
            problems.append(f"{q.id}: answer {q.answer!r} occurs {count} times in {matches[0].name}")
    assert not problems, "\n".join(problems)


def test_answers_survive_document_normalisation(
    policy_queries: list[EvalQuery], sources: dict[Path, tuple[str, str, str]]
) -> None:
    """What the indexer keeps of each document (paragraph joining, footer removal) still holds the phrase."""
    for q in policy_queries:
        path = next(p for p, (title, *_) in sources.items() if q.doc in p.stem or q.doc in title)
        assert q.answer in sources[path][2], q.id


def test_split_follows_the_fixed_rule_and_old_94_are_kept(policy_queries: list[EvalQuery]) -> None:
    """Every query carries the half sha1(id) gives it; both halves hold every kind; the first 94 stay."""
    assert all(q.split == split_of(q.id) for q in policy_queries)
    halves = Counter((q.split, q.kind) for q in policy_queries)
    for kind in {q.kind for q in policy_queries}:
        assert halves[("dev", kind)] >= 5 and halves[("test", kind)] >= 5, kind
    old = [q for q in policy_queries if q.batch == "v1"]
    assert len(old) == 94 and [q.id for q in old] == [q.id for q in policy_queries[:94]]


def test_split_rule_is_sha1_parity_and_a_wrong_split_is_rejected(tmp_path: Path) -> None:
    assert split_of("p01") == ("dev" if hashlib.sha1(b"p01").digest()[0] % 2 == 0 else "test")
    wrong = "test" if split_of("a") == "dev" else "dev"
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "a", "query": "x", "kind": "fact", "doc": "d", "split": wrong}) + "\n")
    with pytest.raises(ValueError, match="breaks the rule"):
        load_queries(path)


# ---------------------------------------------------------------- query files and CMRC


def test_load_queries_reports_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "query": "x", "kind": "fact", "doc": "d"}\n{"id": "b", "query": "y"}\n')
    with pytest.raises(ValueError, match=r"q.jsonl:2: missing kind"):
        load_queries(path)
    path.write_text('{"id": "a", "query": "x", "kind": "fact"}\n')
    with pytest.raises(ValueError, match="needs 'doc' or 'doc_id'"):
        load_queries(path)
    path.write_text('{"id": "a", "query": "x", "kind": "fact", "doc": "d"}\n' * 2)
    with pytest.raises(ValueError, match="duplicate id"):
        load_queries(path)


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    queries = [
        EvalQuery("1", "问题", "cmrc", doc_id="P1"),
        EvalQuery("2", "q", "fact", doc="标题", answer="答案短语"),
    ]
    write_queries(queries, tmp_path / "q.jsonl")
    assert load_queries(tmp_path / "q.jsonl") == queries
    assert "answer" not in (tmp_path / "q.jsonl").read_text(encoding="utf-8").splitlines()[0]


def test_cmrc_conversion_matches_the_committed_query_file(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "stale.txt").write_text("left over from an older run")
    queries = convert_cmrc(CMRC_JSON, docs, tmp_path / "cmrc.jsonl")
    paragraphs = json.loads(CMRC_JSON.read_text(encoding="utf-8"))["data"]
    n_paragraphs = sum(len(a["paragraphs"]) for a in paragraphs)
    assert len(list(docs.glob("*.txt"))) == n_paragraphs and not (docs / "stale.txt").exists()
    n_questions = sum(
        1 for a in paragraphs for p in a["paragraphs"] for qa in p["qas"] if qa["question"].strip()
    )
    assert len(queries) == n_questions == 1000 and len({q.id for q in queries}) == len(queries)
    assert all((docs / f"{q.doc_id}.txt").exists() and not q.answer for q in queries)
    assert (tmp_path / "cmrc.jsonl").read_text(encoding="utf-8") == CMRC_QUERIES.read_text(encoding="utf-8")


# ---------------------------------------------------------------- the runner on a tiny index

REPORT_2024 = """2024年政府工作报告
一、今年主要预期目标
国内生产总值增长5%左右。赤字率拟按3%安排，赤字规模4.06万亿元。
二、民生
居民医保人均财政补助标准提高30元。城乡居民基础养老金月最低标准提高20元。
"""
REPORT_2019 = """2019年政府工作报告
一、今年主要预期目标
国内生产总值增长6%－6.5%。今年赤字率拟按2.8%安排。
二、减税降费
将制造业等行业现行16%的税率降至13%。下调城镇职工基本养老保险单位缴费比例，各地可降至16%。
"""
SPEECH = """区委宣传部部长在中心组学习会上的发言
一、认识全会意义
深刻认识两个确立的决定性意义。
二、宣传工作
一是进一步筑牢意识形态安全屏障。落实意识形态工作责任制。
二是进一步做大做强主流思想舆论。持续深化媒体融合改革。
"""

TINY_SET = [
    EvalQuery("k1", "意识形态安全屏障", "keyword", doc="宣传部部长", answer="筑牢意识形态安全屏障"),
    EvalQuery(
        "f1", "2019年增值税税率降至多少", "fact", doc="2019年政府工作报告", answer="现行16%的税率降至13%"
    ),
    EvalQuery(
        "f2", "医保财政补助标准提高多少", "fact", doc="2024年", answer="居民医保人均财政补助标准提高30元"
    ),
    EvalQuery("c1", "媒体融合改革", "cmrc", doc_id="宣传部部长发言"),
    EvalQuery("x1", "这句话不在任何文档里", "fact", doc="2024年", answer="根本不存在的短语"),
]


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("eval")
    docs = root / "docs"
    docs.mkdir()
    (docs / "2024年政府工作报告.txt").write_text(REPORT_2024, encoding="utf-8")
    (docs / "2019年政府工作报告.txt").write_text(REPORT_2019, encoding="utf-8")
    (docs / "宣传部部长发言.txt").write_text(SPEECH, encoding="utf-8")
    settings = test_settings(index_dir=root / "index")
    from indexer.pipeline import build_index  # imported here so the query-set checks run on their own

    build_index([docs], settings, embedder=FakeEmbedder())
    return settings


@pytest.fixture(scope="module")
def engine(tiny_index: Settings):
    from indexer.retrieval import SearchEngine

    return SearchEngine.open(tiny_index, embedder=FakeEmbedder())


def test_judge_resolves_targets_and_counts_relevant_chunks(engine) -> None:
    judge = Judge(engine)
    assert judge.targets(TINY_SET[0]) == {"宣传部部长发言"}
    assert judge.targets(TINY_SET[1]) == {"2019年政府工作报告"}
    assert judge.targets(EvalQuery("z", "q", "fact", doc="政府工作报告", answer="x")) == {
        "2019年政府工作报告",
        "2024年政府工作报告",
    }
    assert judge.targets(EvalQuery("z", "q", "fact", doc="没有这个文档")) == frozenset()
    assert judge.n_relevant(TINY_SET[0]) >= 1
    assert judge.n_relevant(TINY_SET[3]) == len(
        engine.chunks_of("宣传部部长发言")
    )  # doc_id only: every chunk counts
    assert judge.n_relevant(TINY_SET[4]) == 0


def test_a_result_from_the_wrong_document_is_not_correct(engine) -> None:
    """The 2019 report holds "降至16%" too, but only the intended document's passage counts."""
    judge = Judge(engine)
    q = EvalQuery("y", "养老保险单位缴费比例降至多少", "fact", doc="2024年", answer="16%")
    results = engine.search("各地可降至16%", k=5, mode="lexical").results
    assert results and results[0].doc_id == "2019年政府工作报告"
    assert not any(judge.is_relevant(q, r) for r in results)


def test_evaluate_scores_every_query_in_every_mode(engine) -> None:
    outcomes = evaluate(engine, TINY_SET, MODES, k=10, set_name="tiny")
    assert len(outcomes) == len(TINY_SET) * len(MODES)
    lexical = {o.query.id: o for o in outcomes if o.mode == "lexical"}
    assert lexical["k1"].first_hit == 1 and lexical["k1"].metrics["MRR@10"] == 1.0
    assert lexical["f1"].metrics["R@5"] == 1.0
    assert lexical["x1"].metrics == {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR@10": 0.0, "nDCG@10": 0.0}
    assert all(0.0 <= v <= 1.0 for o in outcomes for v in o.metrics.values())
    assert [q.id for q in unanswerable(outcomes)] == ["x1"]
    assert all(len(o.top) <= 3 for o in outcomes)


def test_summary_table_and_failures(engine) -> None:
    outcomes = evaluate(engine, TINY_SET, ("lexical", "hybrid"), k=10, set_name="tiny")
    rows = summarize(outcomes)
    alls = [r for r in rows if r["kind"] == "all"]
    assert [(r["mode"], r["n"]) for r in alls] == [("lexical", 5), ("hybrid", 5)]
    kinds = [r["kind"] for r in rows if r["mode"] == "lexical" and r["kind"] != "all"]
    assert kinds == ["keyword", "fact", "cmrc"]  # the fixed kind order
    assert sum(r["n"] for r in rows if r["mode"] == "lexical" and r["kind"] != "all") == 5
    table = format_table(rows)
    assert "nDCG@10" in table and "tiny" in table and "  fact" in table
    failures = format_failures(outcomes)
    assert "x1" in failures and "expected: 2024年 ∋ 根本不存在的短语" in failures and "got #1" in failures


def test_summary_reports_dev_test_and_the_old_batch_separately(engine) -> None:
    marked = [
        dataclasses.replace(q, split=split_of(q.id), batch="v1" if i < 2 else "v2", numfmt=q.id == "f1")
        for i, q in enumerate(TINY_SET)
    ]
    rows = summarize(evaluate(engine, marked, ("lexical",), k=10, set_name="tiny"))
    alls = {r["part"]: r["n"] for r in rows if r["kind"] == "all"}
    n_dev = sum(q.split == "dev" for q in marked)
    assert alls["all"] == 5 and alls.get("dev", 0) == n_dev and alls.get("test", 0) == 5 - n_dev
    assert alls["v1"] == 2  # the first batch, reported on its own
    numfmt = [r for r in rows if r["part"] == "all" and r["kind"] == "numfmt"]
    assert len(numfmt) == 1 and numfmt[0]["n"] == 1
    assert " dev " in format_table(rows) or " test " in format_table(rows)


def test_cli_runs_a_set_against_an_index_and_writes_json(
    tiny_index: Settings, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    qfile = tmp_path / "tiny.jsonl"
    write_queries(TINY_SET, qfile)
    out = tmp_path / "out" / "eval.json"
    argv = [
        "--index",
        str(tiny_index.index_dir),
        "--set",
        str(qfile),
        "--modes",
        "lexical,dense",
        "--json",
        str(out),
    ]
    assert main([*argv, "--verbose"], embedder=FakeEmbedder()) == 0
    captured = capsys.readouterr()
    assert "tiny" in captured.out and "lexical" in captured.out and "failures" in captured.out
    assert "x1" in captured.err  # the unanswerable query is warned about
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {r["mode"] for r in report["summary"]} == {"lexical", "dense"}
    assert len(report["queries"]) == 10 and report["indexes"]["tiny"]


def test_cli_rejects_unknown_modes_and_missing_index(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--set", str(POLICY_QUERIES), "--modes", "fuzzy"], embedder=FakeEmbedder()) == 2
    assert "unknown mode" in capsys.readouterr().err
    code = main(["--index", str(tmp_path / "nothing"), "--set", str(POLICY_QUERIES)], embedder=FakeEmbedder())
    assert code == 2 and "error:" in capsys.readouterr().err


def test_cli_build_makes_the_suite_index_then_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import indexer.tools.eval.evaluate as ev
    from indexer.tools.eval.suites import Suite

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "宣传部部长发言.txt").write_text(SPEECH, encoding="utf-8")
    qfile = tmp_path / "tiny.jsonl"
    write_queries(TINY_SET[:1], qfile)
    suite = Suite("tiny", qfile, tmp_path / "index-eval" / "tiny", lambda: [docs])
    monkeypatch.setattr(ev, "SUITES", {"tiny": suite})  # the name main() reads
    assert main(["--suite", "tiny", "--modes", "lexical"], embedder=FakeEmbedder()) == 0
    captured = capsys.readouterr()  # no index yet: it is built first
    assert "built" in captured.err and (tmp_path / "index-eval" / "tiny").is_dir()
    assert main(["--suite", "tiny", "--modes", "lexical"], embedder=FakeEmbedder()) == 0
    assert "built" not in capsys.readouterr().err  # present now: reused

    class Adapted(FakeEmbedder):
        adapter = {"name": "a", "sha256": "cd" * 32}

    assert main(["--suite", "tiny", "--modes", "lexical"], embedder=Adapted()) == 0
    assert "rebuilding" in capsys.readouterr().err  # another adapter: rebuilt, not refused
    assert main(["--build", "--modes", "lexical"], embedder=FakeEmbedder()) == 0
    captured = capsys.readouterr()
    assert "built" in captured.err  # --build rebuilds
    row = next(line for line in captured.out.splitlines() if line.startswith("tiny"))
    assert row.split()[:5] == ["tiny", "lexical", "all", "all", "1"] and row.split()[5] == "1.000"
