"""Official-document fields (GB/T 9704): read from text and docx, bracket variants, filters, 发文字号 first."""

from __future__ import annotations

import pytest

from indexer.documents import load_document
from indexer.filters import Filters
from indexer.official import parse_number, read_fields
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from search_app import cli, create_app
from tests.support.fakes import FakeEmbedder
from tests.support.fakes_engine import test_settings
from tests.support.filemakers import make_docx, make_pdf
from tests.support.official_docs import NOTICE, NOTICE_FIELDS, REQUEST, REQUEST_FIELDS, SPEECH


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "raw",
    ["国发〔2024〕1号", "国发[2024]1号", "国发(2024)1号", "国发（2024）1号", "国发【2024】第1号", "国发 [ 2024 ] 1 号"],
)
def test_doc_number_variants_normalise_to_the_standard_brackets(raw):
    assert str(parse_number(raw)) == "国发〔2024〕1号"


def test_fields_of_a_text_notice_and_a_signed_request(tmp_path):
    notice = load_document(_write(tmp_path / "a.txt", NOTICE))
    assert {k: notice.meta.get(k) for k in NOTICE_FIELDS} == NOTICE_FIELDS
    assert notice.title == "国务院关于加快推进数字政府建设的通知"
    assert notice.meta["date"] == "2024-01-05" and notice.meta["year"] == 2024
    request = load_document(_write(tmp_path / "b.txt", REQUEST))
    assert {k: request.meta.get(k) for k in REQUEST_FIELDS} == REQUEST_FIELDS


def test_a_pdf_whose_own_title_is_its_file_name_takes_the_notices_title(tmp_path):
    # Converters (a scanner's PIL, print-to-PDF) write the file name as the PDF's title: it says nothing
    pdf = make_pdf(tmp_path / "scan.pdf", [NOTICE[:40]], page_numbers=None, title="scan")
    assert load_document(pdf).title == "国务院关于加快推进数字政府建设的通知"
    named = make_pdf(tmp_path / "b.pdf", [NOTICE[:40]], page_numbers=None, title="数字政府建设通知（汇编本）")
    assert load_document(named).title == "数字政府建设通知（汇编本）"  # a real title of its own still wins


def test_colons_that_ocr_read_as_semicolons_still_mark_the_addressee_attachments_and_cc():
    swaps = (("直属机构：", "直属机构；"), ("附件：", "附件；"), ("抄送：", "抄送;"))
    ocr_read = []
    for line in NOTICE:
        for colon, semicolon in swaps:
            line = line.replace(colon, semicolon)
        ocr_read.append(line)
    assert ocr_read != NOTICE
    fields = read_fields("\n".join(ocr_read))
    assert {k: fields.get(k) for k in ("addressee", "attachments", "cc")} == {
        k: NOTICE_FIELDS[k] for k in ("addressee", "attachments", "cc")
    }
    body = ["国务院文件", "国发〔2024〕1号", "一、总体要求", "坚持以人民为中心，推动政务数据共享；"]
    body.append("国务院办公厅2024年1月8日印发")
    assert "addressee" not in read_fields("\n".join(body))  # a body line ending in "；" is no 主送机关


def test_a_speech_quoting_a_doc_number_gets_no_fields(tmp_path):
    speech = load_document(_write(tmp_path / "speech.txt", SPEECH))
    assert "doc_number" not in speech.meta and "issuer" not in speech.meta
    assert read_fields("\n".join(SPEECH)) == {}


def test_fields_of_a_docx_notice(tmp_path):
    def build(document):
        for line in NOTICE:
            document.add_paragraph(line)

    doc = load_document(make_docx(tmp_path / "通知.docx", build))
    assert {k: doc.meta.get(k) for k in NOTICE_FIELDS} == NOTICE_FIELDS


@pytest.fixture
def index(tmp_path):
    docs = tmp_path / "docs"
    _write(docs / "notice.txt", NOTICE)
    _write(docs / "request.txt", REQUEST)
    _write(docs / "speech.txt", SPEECH)
    settings = test_settings(tmp_path)
    build_index([docs], settings, embedder=FakeEmbedder())
    return settings


def test_issuer_and_number_year_filter_in_the_engine(index):
    engine = SearchEngine.open(index, embedder=FakeEmbedder())

    def docs(**filters):
        found = engine.search("数字政府建设 营商环境", k=10, mode="lexical", filters=Filters(**filters)).results
        return {r.doc_id for r in found}

    assert docs() == {"notice", "request", "speech"}
    assert docs(issuers=("国务院办公厅",)) == {"request"}
    assert docs(issuers=("国务院",)) == {"notice", "request"}  # a substring of the issuing body
    assert docs(number_years=(2024,)) == {"notice"}
    assert docs(number_years=(2023,), issuers=("国务院",)) == {"request"}
    assert docs(number_years=(2022,)) == set()


@pytest.mark.parametrize("query", ["国发〔2024〕1号", "国发[2024]1号", "国发(2024)1号文件"])
@pytest.mark.parametrize("mode", ["lexical", "hybrid"])
def test_a_doc_number_query_finds_its_document_first(index, query, mode):
    engine = SearchEngine.open(index, embedder=FakeEmbedder())
    results = engine.search(query, k=5, mode=mode).results
    assert results[0].doc_id == "notice" and "国发〔2024〕1号" in results[0].text
    assert len({r.chunk_id for r in results}) == len(results)  # the boosted passage is not listed twice


def test_api_page_and_cli_filter_and_show_the_fields(index, capsys):
    client = create_app(index, engine=SearchEngine.open(index, embedder=FakeEmbedder())).test_client()
    api = client.get("/api/search?q=营商环境 数字政府&mode=lexical&issuer=国务院办公厅").get_json()
    assert {r["doc_id"] for r in api["results"]} == {"request"}
    assert api["results"][0]["meta"]["doc_number"] == "国办发〔2023〕5号"
    api = client.get("/api/search?q=营商环境 数字政府&mode=lexical&doc_number_year=2024").get_json()
    assert {r["doc_id"] for r in api["results"]} == {"notice"}
    assert client.get("/api/search?q=x&doc_number_year=abc").status_code == 400
    html = client.get("/?q=数字政府&mode=lexical&issuer=国务院&doc_number_year=2024").get_data(as_text=True)
    assert 'class="official" title="发文机关 · 发文字号">国务院 · 国发〔2024〕1号<' in html
    assert 'name="issuer" list="issuers" value="国务院"' in html and '<option value="国务院办公厅">' in html
    view = client.get("/doc/request").get_data(as_text=True)
    for label, value in (("发文字号", "国办发〔2023〕5号"), ("签发人", "张明"), ("印发机关", "国务院办公厅秘书局")):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in view
    code = cli.main(
        [
            "query",
            "营商环境",
            "--index",
            str(index.index_dir),
            "--mode",
            "lexical",
            "--issuer",
            "国务院办公厅",
            "--format",
            "jsonl",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and '"doc_id": "request"' in out and '"doc_id": "notice"' not in out
