"""`python -m search_app query|serve`, called in-process through cli.main(argv)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from indexer.config import PROJECT_ROOT
from indexer.errors import IndexCorruptError, IndexNotFoundError
from search_app import cli
from search_app.output import CSV_COLUMNS
from tests.support.fakes_engine import FakeEngine


class Run:
    def __init__(self, code: int, out: str, err: str, engine: FakeEngine, settings):
        self.code, self.out, self.err, self.engine, self.settings = code, out, err, engine, settings


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run the CLI with a fake engine; env vars cleared so only flags count."""
    for var in ("POLICY_SEARCH_INDEX_DIR", "POLICY_SEARCH_DEFAULT_K", "POLICY_SEARCH_DEFAULT_MODE"):
        monkeypatch.delenv(var, raising=False)

    def _run(*argv: str, stdin: str = "", engine: FakeEngine | None = None, open_error=None) -> Run:
        engine = engine or FakeEngine()
        seen = {}

        def opener(settings):
            seen["settings"] = settings
            if open_error is not None:
                raise open_error
            return engine

        out, err = io.StringIO(), io.StringIO()
        code = cli.main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err, open_engine=opener)
        return Run(code, out.getvalue(), err.getvalue(), engine, seen.get("settings"))

    return _run


def test_jsonl_one_line_per_query_same_object_as_api(run):
    r = run("query", "--format", "jsonl", "--k", "2", "--mode", "lexical", "高质量发展", "无结果")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == ["query", "took_ms", "mode", "results"]
    assert first["query"] == "高质量发展" and first["mode"] == "lexical" and len(first["results"]) == 2
    assert json.loads(lines[1])["results"] == []
    assert "高质量发展" in lines[0]  # ensure_ascii=False


def test_all_queries_go_through_one_search_many_call(run):
    r = run("query", "--format", "jsonl", "发展", "就业", "学习")
    assert r.engine.calls == [("search_many", ["发展", "就业", "学习"], 10, "hybrid")]


def test_csv_has_one_row_per_result(run):
    r = run("query", "--format", "csv", "高质量发展", "学习")
    assert r.code == 0, r.err
    rows = list(csv.reader(io.StringIO(r.out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(b["query"], b["rank"]) for b in body] == [
        ("高质量发展", "1"),
        ("高质量发展", "2"),
        ("学习", "1"),
    ]
    assert body[0]["heading_path"] == "一、2023年工作回顾 > （一）经济运行"
    assert body[0]["chunk_id"] == "gwr-2024#0" and body[0]["link"] == "/doc/gwr-2024?hit=gwr-2024%230#p0"
    assert (body[0]["year"], body[0]["type"]) == ("2024", "report")
    assert body[0]["best_sentence"] == "国内生产总值超过126万亿元，增长5.2%。"
    assert body[2]["passage"] == "学习<script>alert('x')</script>发展理念，A & B 都要抓。"


def test_table_is_readable(run):
    r = run("query", "高质量发展")
    assert r.code == 0
    assert "查询: 高质量发展" in r.out and "2024年政府工作报告 › 一、2023年工作回顾 › （一）经济运行" in r.out
    assert run("query", "无结果").out.count("没有结果") == 1


def test_queries_from_file_skip_blank_lines(run, tmp_path):
    f = tmp_path / "q.txt"
    f.write_text("\ufeff高质量发展\n\n  就业  \n", encoding="utf-8")
    r = run("query", "--format", "jsonl", "--file", str(f))
    assert r.code == 0 and r.engine.calls[0][1] == ["高质量发展", "就业"]


def test_gb18030_query_file_is_read(run, tmp_path):
    f = tmp_path / "q.txt"
    f.write_bytes("高质量发展\r\n就业\r\n".encode("gb18030"))
    r = run("query", "--format", "jsonl", "-f", str(f))
    assert r.code == 0 and r.engine.calls[0][1] == ["高质量发展", "就业"]
    assert "GB18030" in r.err


def test_queries_from_stdin(run):
    r = run("query", "--format", "jsonl", "-", stdin="发展\n就业\n")
    assert r.code == 0 and r.engine.calls[0][1] == ["发展", "就业"]
    r = run("query", "--format", "jsonl", "--file", "-", stdin="学习\n")
    assert r.code == 0 and r.engine.calls[0][1] == ["学习"]


def test_output_file_csv_has_bom_for_excel(run, tmp_path):
    dest = tmp_path / "out.csv"
    r = run("query", "--format", "csv", "-o", str(dest), "发展")
    assert r.code == 0 and r.out == ""
    assert dest.read_bytes().startswith(b"\xef\xbb\xbfquery,rank")


def test_index_flag_goes_through_settings_from_env(run, tmp_path, monkeypatch):
    monkeypatch.setenv("POLICY_SEARCH_DEFAULT_K", "3")
    r = run("query", "--format", "jsonl", "--index", str(tmp_path / "idx"), "发展")
    assert r.settings.index_dir == tmp_path / "idx"
    assert r.engine.calls[0][2] == 3  # env default k used, since --k was not given


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (("query",), "", "no query given"),
        (("query", "  "), "", "query is empty"),
        (("query", "a", "  "), "", "query 2: query is empty"),
        (("query", "--k", "0", "a"), "", "k must be between 1 and 100"),
        (("query", "--k", "x", "a"), "", "invalid int value"),
        (("query", "--mode", "fuzzy", "a"), "", "mode must be one of"),
        (("query", "--format", "xml", "a"), "", "invalid choice"),
        (("query", "-"), "\n \n", "no queries in stdin"),
        (("query", "--file", "/nonexistent/q.txt"), "", "cannot read query file"),
        (("query", "--file", "-", "a"), "", "not both"),
        (("frobnicate",), "", "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_message(run, argv, stdin, message):
    r = run(*argv, stdin=stdin)
    assert r.code == 2
    assert message in r.err
    assert r.engine.calls == []


def test_empty_query_file_exits_2(run, tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("\n\n", encoding="utf-8")
    r = run("query", "--file", str(f))
    assert r.code == 2 and "no queries in" in r.err and str(f) in r.err


def test_missing_index_exits_2_telling_to_run_make_index(run):
    r = run("query", "发展", open_error=IndexNotFoundError("no index in data/index"))
    assert r.code == 2 and "make index" in r.err


def test_broken_index_exits_1(run):
    r = run("query", "发展", open_error=IndexCorruptError("chunks.jsonl truncated"))
    assert r.code == 1 and "truncated" in r.err


def test_real_engine_missing_index_exits_2(tmp_path, monkeypatch):
    monkeypatch.delenv("POLICY_SEARCH_INDEX_DIR", raising=False)
    err = io.StringIO()
    code = cli.main(["query", "--index", str(tmp_path / "none"), "发展"], stdout=io.StringIO(), stderr=err)
    assert code == 2 and "make index" in err.getvalue()


def test_real_engine_lexical_jsonl(tmp_path):
    from tests.support.helpers import write_test_index

    write_test_index(tmp_path / "idx")
    out = io.StringIO()
    code = cli.main(["query", "--index", str(tmp_path / "idx"), "--mode", "lexical", "--format", "jsonl",
                     "国内生产总值", "意识形态"], stdout=out, stderr=io.StringIO())  # fmt: skip
    assert code == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["results"][0]["doc_id"] for x in lines] == ["report-2024", "speech"]


def test_serve_rejects_bad_port_and_busy_port(tmp_path):
    import socket

    err = io.StringIO()
    assert (
        cli.main(["serve", "--index", str(tmp_path), "--port", "70000"], stdout=io.StringIO(), stderr=err)
        == 2
    )
    assert "--port must be between" in err.getvalue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        err = io.StringIO()
        code = cli.main(
            ["serve", "--index", str(tmp_path), "--port", str(port)], stdout=io.StringIO(), stderr=err
        )
    assert code == 2 and "cannot listen" in err.getvalue()


def test_module_entry_point_help():
    argv = [sys.executable, "-m", "search_app", "query", "--help"]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)
    assert out.returncode == 0 and "--format" in out.stdout and "--file" in out.stdout


def test_unloadable_model_is_a_clear_error_not_a_traceback(tmp_path):
    import io

    from search_app.cli import main
    from tests.support.helpers import write_test_index

    write_test_index(tmp_path / "index")
    err = io.StringIO()
    code = main(["query", "--index", str(tmp_path / "index"), "--model", str(tmp_path / "no-model"), "两个确立"],
                stdout=io.StringIO(), stderr=err)
    assert code == 1
    assert "make model" in err.getvalue() and "Traceback" not in err.getvalue()
