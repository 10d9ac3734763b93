"""Every document gets a year and a consistent type: dates in the text, congress numbers, sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer import cli, metadata
from indexer.config import PROJECT_ROOT, Settings
from indexer.documents import discover, load_document
from indexer.pipeline import refresh_metadata
from indexer.retrieval import SearchEngine
from indexer.store import open_current, write_version
from indexer.textnorm import TOKENIZER_VERSION
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import make_content, write_test_index


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("第二届全国人民代表大会第三次会议关于政府工作报告的决议", 1962),
        ("第十三届全国人民代表大会第二次会议关于政府工作报告的决议", 2019),
        ("在中国共产党第十一次全国代表大会上的政治报告", 1977),
        ("加快改革开放和现代化建设步伐 (十四大)", 1992),
        ("高举中国特色社会主义伟大旗帜 (二十大)", 2022),
        ("廣州共產黨報告 (一大)", 1921),
        ("第九十九届全国人民代表大会第一次会议", None),
        ("关于做好春耕工作的通知", None),
    ],
)
def test_congress_numbers_name_the_year(text, year):
    assert metadata.congress_year(text) == year


@pytest.mark.parametrize(
    ("text", "year"),
    [
        ("关于某事的决定\n（一九八七年十月二十五日）\n正文很长。", 1987),
        ("标题\n1987年10月25日\n正文", 1987),
        ("标题\n正文第一段。\n正文第二段。\n某某委员会\n二〇二二年三月五日", 2022),
        ("标题\n" + "自从一九七六年十月以来，" * 10 + "\n正文", None),  # a date inside a long sentence is history
    ],
)
def test_dates_in_opening_or_closing_lines(text, year):
    assert metadata.text_year(text) == year


def test_cn_numbers():
    assert [metadata.cn_number(t) for t in ("一", "十", "十四", "二十", "二十一", "百")] == [1, 10, 14, 20, 21, None]


def test_a_sidecar_year_wins_over_the_congress_table():
    meta = metadata.merge("加快改革开放和现代化建设步伐 (十四大)", "同志们：", [{"year": 1993}], "x")
    assert meta["year"] == 1993 and meta["type"] == "report"


def test_every_corpus_and_seed_document_has_a_year_and_congress_reports_are_reports():
    paths, errors = discover([PROJECT_ROOT / "data" / "corpus", PROJECT_ROOT / "seeds"])
    assert not errors and len(paths) >= 88
    docs = [load_document(p) for p in paths]
    assert [d.title for d in docs if not d.meta.get("year")] == []
    congress = [d for d in docs if "大)" in d.title or "全国代表大会上" in d.title]
    assert congress and {d.meta["type"] for d in congress} == {"report"}
    by_title = {d.title: d.meta["year"] for d in docs}
    assert by_title["坚定不移沿着中国特色社会主义道路前进 为全面建成小康社会而奋斗 (十八大)"] == 2012


def test_refresh_meta_fills_missing_years_without_reembedding(tmp_path, capsys):
    passages = {
        "npc": (
            "第十二届全国人民代表大会第四次会议关于政府工作报告的决议",
            {"type": "other"},
            [(["一"], "会议决定批准这个报告。")],
        ),
        "given": ("某讲话", {"year": 2001, "type": "speech"}, [(["一"], "一段话。")]),
    }
    write_test_index(tmp_path, passages=passages)
    settings = Settings.from_env(env={}, index_dir=tmp_path)
    report = refresh_metadata(settings)
    assert report.replaced == ["npc"] and report.unchanged == ["given"]
    assert cli.main(["list", "--json", "--index", str(tmp_path)]) == 0
    listed = {d["doc_id"]: d["meta"] for d in json.loads(capsys.readouterr().out)}
    assert (listed["npc"]["year"], listed["npc"]["type"]) == (2016, "resolution")
    assert listed["given"]["year"] == 2001
    assert refresh_metadata(settings).replaced == []  # nothing left to change: no new version


def test_refresh_meta_keeps_the_model_adapter_and_tokenizer_the_index_was_built_with(tmp_path):
    """A refreshed version is written from the old one's content: it must still say which model and adapter made
    its vectors (else the engine refuses it), and which tokenizer and sentence vectors its rows have."""

    class Adapted(FakeEmbedder):
        adapter = {"name": "policy", "sha256": "ab" * 32}

    embedder = Adapted()
    passages = {"npc": ("第十二届全国人民代表大会第四次会议关于政府工作报告的决议", {"type": "other"},
                        [(["一"], "会议决定批准这个报告。")])}
    recorded = {"model": embedder.name, "adapter": embedder.adapter, "dim": embedder.dim, "chunker": "test",
                "tokenizer": TOKENIZER_VERSION, "sentence_vectors": "off"}
    write_version(tmp_path, make_content(embedder, passages), recorded)
    settings = Settings.from_env(env={}, index_dir=tmp_path)
    assert refresh_metadata(settings).replaced == ["npc"]  # a new version was written
    manifest = open_current(tmp_path).manifest
    assert {k: manifest.get(k) for k in recorded} == recorded
    engine = SearchEngine.open(settings, embedder)  # the adapted model still opens it
    assert engine.search("批准这个报告", mode="lexical").results


def test_list_prints_year_and_type(tmp_path, capsys):
    write_test_index(tmp_path)
    assert cli.main(["list", "--index", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\t2024\treport\t" in out and "\t2021\tspeech\t" in out
    assert Path(tmp_path).exists()
