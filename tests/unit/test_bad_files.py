"""Bad files are reported with a clear reason and skipped; the batch goes on; nothing indexed is lost."""

from __future__ import annotations

import io
import random
import time
import tracemalloc
import zipfile

import pytest

from indexer import formats
from indexer.documents import DocumentError, iter_documents, load_document
from indexer.pipeline import add_documents, build_index, list_documents
from indexer.retrieval import SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.filemakers import make_docx, make_entity_bomb_docx, make_latin_pdf, make_scanned_pdf, make_zip_bomb
from tests.support.settings import test_settings

NOTICE = "关于做好防汛工作的通知\n各地要切实做好防汛抗旱工作，落实防汛责任制，加强值班值守和隐患排查，确保安全度汛。"
REPORT = "2023年统计公报\n全年国内生产总值一百二十六万亿元，比上年增长百分之五点二。城镇新增就业一千二百四十四万人。"
HTML = (
    "<html><head><title>关于春耕的意见</title></head>"
    "<body><nav>首页</nav><p>各地要抓好春耕备耕，确保粮食播种面积稳定。</p></body></html>"
)
POLICY_EN = ["Opinions on Opening Up", "China will keep opening up and deepen international cooperation."]


def _docx(path):
    return make_docx(path, lambda d: d.add_paragraph("各地要加快推进数字政府建设，提升政务服务效能和群众满意度。"))


def _truncated_pdf(path):
    make_latin_pdf(path, POLICY_EN)
    path.write_bytes(path.read_bytes()[:400])
    return path


def _pdf_without_pages() -> bytes:
    from pypdf import PdfWriter

    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    return buffer.getvalue()


# name -> (how to make it, words the reason must contain)
BAD_FILES = {
    "binary.txt": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))), "binary"),
    "empty.txt": (lambda p: p.write_bytes(b""), "empty file"),
    "empty.docx": (lambda p: p.write_bytes(b""), "empty file"),
    "huge.txt": (lambda p: p.open("wb").truncate(50 * 2**20), "file too large (50.0 MB; limit 20 MB)"),
    "wrong-encoding.txt": (
        lambda p: p.write_bytes(bytes(random.Random(7).choices(range(0x80, 0x100), k=3000))),
        "undecodable",
    ),
    "bomb.docx": (make_zip_bomb, "refused as a likely zip bomb"),
    "laughs.docx": (make_entity_bomb_docx, "entity"),
    "not-a-zip.docx": (lambda p: p.write_text("这其实是一个文本文件。", encoding="utf-8"), "not a zip archive"),
    "old-word.docx": (lambda p: p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600), "old binary Word"),
    "spreadsheet.docx": (
        lambda p: zipfile.ZipFile(p, "w").writestr("xl/workbook.xml", "<workbook/>"),
        "without word/document.xml",
    ),
    "truncated.pdf": (_truncated_pdf, "corrupt PDF"),
    "not-a-pdf.pdf": (lambda p: p.write_text("这不是PDF。", encoding="utf-8"), "not a PDF file"),
    "locked.pdf": (lambda p: make_latin_pdf(p, POLICY_EN, password="secret"), "encrypted PDF: a password is needed"),
    "scanned.pdf": (make_scanned_pdf, "no text layer (scanned PDF?)"),
    "no-pages.pdf": (lambda p: p.write_bytes(_pdf_without_pages()), "PDF without pages"),
    "binary.html": (lambda p: p.write_bytes(b"\x00\x01\x02\x03" * 200), "binary"),
}
GOOD_FILES = {
    "notice.txt": lambda p: p.write_text(NOTICE, encoding="gb18030"),
    "digital.docx": _docx,
    "opening.pdf": lambda p: make_latin_pdf(p, POLICY_EN),
    "spring.html": lambda p: p.write_text(HTML, encoding="utf-8"),
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    for name, (make, _) in BAD_FILES.items():
        make(folder / name)
    for name, make in GOOD_FILES.items():
        make(folder / name)
    return folder


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_gets_a_clear_reason(mixed, name):
    with pytest.raises(DocumentError) as caught:
        load_document(mixed / name)
    assert BAD_FILES[name][1] in caught.value.reason
    assert caught.value.path.name == name and name in str(caught.value)


def test_the_batch_goes_on_past_every_bad_file(mixed):
    docs, errors = iter_documents([mixed])
    assert sorted(d.doc_id for d in docs) == ["digital", "notice", "opening", "spring"]
    assert sorted(e.path.name for e in errors) == sorted(BAD_FILES)


def test_the_zip_bomb_is_refused_quickly_without_unpacking(tmp_path):
    bomb = make_zip_bomb(tmp_path / "bomb.docx", mib=1024)
    with zipfile.ZipFile(bomb) as archive:  # it is a real bomb: 1 GiB behind a file of about 1 MB
        assert archive.getinfo("word/document.xml").file_size == 2**30
        assert archive.open("word/document.xml").read(4096) == b"\0" * 4096
    assert bomb.stat().st_size < 2 * 2**20
    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(DocumentError, match="unpack to 1024 MB"):
        load_document(bomb)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 20 * 2**20  # the file's bytes and little more


def test_the_unpacked_limit_follows_the_file_size_setting(tmp_path):
    bomb = make_zip_bomb(tmp_path / "small-bomb.docx", mib=64)
    with pytest.raises(DocumentError, match="limit 50 MB"):
        load_document(bomb, max_bytes=5 * 2**20)
    with pytest.raises(DocumentError, match="file too large"):
        load_document(tmp_path / "small-bomb.docx", max_bytes=10_000)


def test_a_library_crashing_on_a_file_does_not_stop_the_batch(tmp_path, monkeypatch):
    import indexer.formats.pdf_reader as pdf_reader

    def crash(raw: bytes, max_bytes: int):
        raise RuntimeError("unexpected object type")

    monkeypatch.setattr(pdf_reader, "read", crash)
    make_latin_pdf(tmp_path / "a.pdf", POLICY_EN)
    (tmp_path / "b.txt").write_text(NOTICE, encoding="utf-8")
    docs, errors = iter_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["b"]
    assert errors[0].reason == "cannot read this .pdf file (RuntimeError: unexpected object type)"
    assert isinstance(formats.FormatError("x"), Exception)


def test_adding_a_folder_of_good_and_bad_files_keeps_what_was_indexed(mixed, tmp_path):
    settings = test_settings(index_dir=tmp_path / "index")
    first = tmp_path / "first"
    first.mkdir()
    (first / "report.txt").write_text(REPORT, encoding="utf-8")
    build_index([first], settings, embedder=FakeEmbedder())

    report = add_documents([mixed], settings, embedder=FakeEmbedder())

    assert sorted(report.added) == ["digital", "notice", "opening", "spring"]
    assert sorted(e.split(": ", 1)[0].rsplit("/", 1)[-1] for e in report.errors) == sorted(BAD_FILES)
    assert any("zip bomb" in e for e in report.errors) and any("no text layer" in e for e in report.errors)
    assert {d["doc_id"] for d in list_documents(settings)} == {"report", "digital", "notice", "opening", "spring"}
    engine = SearchEngine.open(settings, embedder=FakeEmbedder())
    assert engine.search("国内生产总值", k=3, mode="lexical").results[0].doc_id == "report"
    assert engine.search("防汛抗旱", k=3, mode="lexical").results[0].doc_id == "notice"
