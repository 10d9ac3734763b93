"""Metadata from the file, a sidecar and CLI flags, strongest last; an edit reaches the index."""

from __future__ import annotations

import json

import pytest

from indexer import cli
from indexer.documents import DocumentError, load_document
from indexer.metadata import clean_fields, guess_type, normalise_date
from indexer.pipeline import add_documents, list_documents
from tests.support.fakes import FakeEmbedder
from tests.support.filemakers import make_docx
from tests.support.settings import test_settings

TEXT = (
    "2024年政府工作报告\n——2024年3月5日在第十四届全国人民代表大会第二次会议上\n"
    "各位代表：现在，我代表国务院，向大会报告政府工作。"
)
HTML = """<html><head><title>关于春耕生产的通知</title><meta name="PubDate" content="2024年2月1日"></head>
<body><p>各地要抓好春耕备耕，确保粮食播种面积稳定。</p></body></html>"""


def sidecar(path, **fields):
    path.with_name(path.name + ".meta.json").write_text(json.dumps(fields, ensure_ascii=False), encoding="utf-8")


def test_guesses_then_sidecar_then_flags(tmp_path):
    path = tmp_path / "2024年政府工作报告.txt"
    path.write_text(TEXT, encoding="utf-8")
    guessed = load_document(path)
    assert (guessed.title, guessed.meta["type"], guessed.meta["year"]) == ("2024年政府工作报告", "report", 2024)
    sidecar(path, title="政府工作报告（摘要）", type="speech", date="2024-03-05", source="新华社")
    edited = load_document(path)
    assert edited.title == "政府工作报告（摘要）"
    assert edited.meta == {
        "type": "speech",
        "year": 2024,
        "date": "2024-03-05",
        "source": "新华社",
        "encoding": "utf-8",
    }
    flagged = load_document(path, overrides={"title": "报告", "type": "report", "year": 2023, "source": "国务院"})
    assert flagged.title == "报告"
    assert flagged.meta | {"encoding": None} == {
        "type": "report",
        "year": 2023,
        "date": "2024-03-05",
        "source": "国务院",
        "encoding": None,
    }


def test_word_core_properties_then_sidecar(tmp_path):
    def build(document) -> None:
        document.add_paragraph("会议审议通过了关于加强基层治理的决议，要求各地认真贯彻落实。")

    path = make_docx(tmp_path / "基层治理.docx", build, title="关于加强基层治理的决议", category="resolution")
    from_file = load_document(path)
    assert from_file.title == "关于加强基层治理的决议" and from_file.meta["type"] == "resolution"
    sidecar(path, title="基层治理决议（2021）", year=2021)
    edited = load_document(path)
    assert edited.title == "基层治理决议（2021）" and edited.meta["year"] == 2021
    assert edited.meta["type"] == "resolution"  # what the sidecar leaves out still comes from the file


def test_html_meta_then_sidecar(tmp_path):
    path = tmp_path / "spring.html"
    path.write_text(HTML, encoding="utf-8")
    page = load_document(path)
    assert (page.title, page.meta["date"], page.meta["year"], page.meta["type"]) == (
        "关于春耕生产的通知",
        "2024-02-01",
        2024,
        "notice",
    )
    sidecar(path, date="2023-12-30")
    assert load_document(path).meta["year"] == 2023


def test_bad_metadata_is_a_clear_error(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(TEXT, encoding="utf-8")
    with pytest.raises(DocumentError, match="year 'soon' is not a number"):
        load_document(path, overrides={"year": "soon"})
    sidecar(path, title=["not", "text"])
    with pytest.raises(DocumentError, match="a.txt.meta.json: title must be text"):
        load_document(path)


@pytest.mark.parametrize(
    ("title", "kind"),
    [
        ("第十四届全国人民代表大会第二次会议关于政府工作报告的决议", "resolution"),
        ("国务院办公厅关于印发《政府工作报告》重点工作分工的通知", "notice"),
        ("在庆祝中国共产党成立100周年大会上的讲话", "speech"),
        ("关于2023年国民经济和社会发展计划执行情况的报告", "report"),
        ("关于加强基层治理体系和治理能力现代化建设的意见", "other"),
    ],
)
def test_type_from_the_last_kind_word_of_the_title(title, kind):
    assert guess_type(title) == kind


def test_dates_are_normalised_and_fields_checked():
    assert normalise_date("2024-3-5 10:00:00") == "2024-03-05"
    assert normalise_date("2024年3月5日") == "2024-03-05"
    assert normalise_date("2024") == "2024"
    assert clean_fields({"year": "2021", "title": "  标题 ", "extra": 1, "source": ""}) == {
        "year": 2021,
        "title": "标题",
    }
    with pytest.raises(ValueError, match="year True"):
        clean_fields({"year": True})


def test_cli_flags_set_metadata_and_an_edit_replaces_the_document(tmp_path, monkeypatch, capsys):
    import indexer.embedding

    monkeypatch.setattr(indexer.embedding, "load_embedder", lambda settings: FakeEmbedder())
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(
        "关于防汛的安排\n各地要做好防汛准备，落实责任，加强值班值守和隐患排查。", encoding="utf-8"
    )
    (docs / "b.txt").write_text("关于春耕的安排\n各地要抓好春耕备耕，确保粮食播种面积稳定。", encoding="utf-8")
    index = str(tmp_path / "index")
    argv = ["add", str(docs), "--index", index, "--quiet", "--type", "notice", "--year", "2020", "--source", "办公厅"]
    assert cli.main(argv) == 0
    assert "2 added" in capsys.readouterr().out
    settings = test_settings(index_dir=tmp_path / "index")
    metas = {d["doc_id"]: d["meta"] for d in list_documents(settings)}
    assert metas["a"] == metas["b"] == {"type": "notice", "year": 2020, "source": "办公厅", "encoding": "utf-8"}

    report = add_documents([docs / "a.txt"], settings, embedder=FakeEmbedder(), overrides={"type": "report"})
    assert report.replaced == ["a"]  # same text, new metadata: replaced, not skipped as unchanged
    assert {d["doc_id"]: d["meta"]["type"] for d in list_documents(settings)} == {"a": "report", "b": "notice"}

    with pytest.raises(SystemExit):
        cli.main(["add", str(docs), "--index", index, "--type", "poem"])
    assert "invalid choice" in capsys.readouterr().err
