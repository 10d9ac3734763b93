"""OFD (GB/T 33190): text in reading order with page numbers, DocInfo title and date; damage reported."""

from __future__ import annotations

import zipfile

import pytest

from indexer.chunking import chunk_document
from indexer.documents import DocumentError, iter_documents, load_document
from indexer.pipeline import build_index
from indexer.retrieval import SearchEngine
from tests.support.fakes import FakeEmbedder
from tests.support.ofd import make_ofd
from tests.support.settings import test_settings

INDENT = "\u3000\u3000"
PAGES = [
    [
        "国务院关于推进数字政府建设的指导意见",
        "一、总体要求",
        f"{INDENT}以数字化改革助力政府职能转变，统筹推进各行业各领域政务应用系",
        "统集约建设、互联互通、协同联动。",
        "二、主要任务",
        f"{INDENT}构建协同高效的政府数字化履职能力体系，全面推进政府履职和政务",
    ],
    [
        "运行数字化转型，政务服务事项网上可办率达到百分之九十以上。",
        "三、保障措施",
        f"{INDENT}加强组织领导，各地区各部门要把数字政府建设摆在重要位置，健全",
        "工作机制，抓好贯彻落实。",
    ],
]


@pytest.mark.parametrize("per_char", [False, True], ids=["line-objects", "char-objects"])
def test_ofd_text_reads_in_order_with_pages_title_and_date(tmp_path, per_char):
    path = make_ofd(
        tmp_path / "意见.ofd", PAGES, title="关于推进数字政府建设的指导意见", created="2022-06-23", per_char=per_char
    )
    doc = load_document(path)
    assert doc.text.split("\n") == [
        "国务院关于推进数字政府建设的指导意见",
        "一、总体要求",
        "以数字化改革助力政府职能转变，统筹推进各行业各领域政务应用系统集约建设、互联互通、协同联动。",
        "二、主要任务",
        "构建协同高效的政府数字化履职能力体系，全面推进政府履职和政务运行数字化转型，政务服务事项网上可办率"
        "达到百分之九十以上。",
        "三、保障措施",
        "加强组织领导，各地区各部门要把数字政府建设摆在重要位置，健全工作机制，抓好贯彻落实。",
    ]
    assert doc.title == "关于推进数字政府建设的指导意见"
    assert doc.meta["year"] == 2022 and doc.meta["date"] == "2022-06-23"
    assert doc.pages == [0, doc.text.index("运行数字化转型")]
    chunks = chunk_document(doc, target_chars=40, max_chars=80, min_chars=10)
    by_heading = {c.heading_path[-1]: c.page for c in chunks if c.heading_path}
    assert by_heading["一、总体要求"] == 1 and by_heading["三、保障措施"] == 2


def test_ofd_passage_found_by_search_with_its_page(tmp_path):
    make_ofd(tmp_path / "docs" / "意见.ofd", PAGES, title="数字政府建设指导意见")
    settings = test_settings(index_dir=tmp_path / "index")
    build_index([tmp_path / "docs"], settings, embedder=FakeEmbedder())
    top = SearchEngine.open(settings, embedder=FakeEmbedder()).search("加强组织领导", k=1, mode="lexical").results[0]
    assert top.doc_id == "意见" and top.page == 2 and top.heading_path == ["三、保障措施"]


def test_damaged_and_encrypted_ofd_are_reported_and_skipped(tmp_path):
    good = make_ofd(tmp_path / "good.ofd", PAGES)
    make_ofd(tmp_path / "secret.ofd", PAGES, encrypted=True)
    (tmp_path / "cut.ofd").write_bytes(good.read_bytes()[:300])
    with zipfile.ZipFile(tmp_path / "nopage.ofd", "w") as archive:
        with zipfile.ZipFile(good) as source:
            for name in source.namelist():
                if "Page_1" not in name:
                    archive.writestr(name, source.read(name))
    (tmp_path / "text.ofd").write_text("not a package", encoding="utf-8")
    docs, errors = iter_documents([tmp_path])
    assert [d.doc_id for d in docs] == ["good"]
    reasons = {e.path.name: e.reason for e in errors}
    assert "encrypted OFD document" in reasons["secret.ofd"]
    assert "damaged OFD package" in reasons["cut.ofd"]
    assert reasons["nopage.ofd"] == "damaged OFD package: Doc_0/Pages/Page_1/Content.xml is missing"
    assert reasons["text.ofd"] == "not an OFD file (not a zip package)"


def test_ofd_entities_are_not_expanded(tmp_path):
    path = make_ofd(tmp_path / "bomb.ofd", PAGES)
    with zipfile.ZipFile(path) as source:
        members = {n: source.read(n) for n in source.namelist()}
    name = "Doc_0/Pages/Page_0/Content.xml"
    head, rest = members[name].decode().split("?>", 1)
    entities = '<!ENTITY a "哈哈哈哈哈哈哈哈">' + "".join(
        f'<!ENTITY {c} "{f"&{p};" * 10}">' for p, c in zip("abcdefg", "bcdefgh")
    )
    members[name] = f"{head}?><!DOCTYPE p [{entities}]>{rest.replace('统集约建设', '&h;')}".encode()
    with zipfile.ZipFile(path, "w") as archive:
        for n, data in members.items():
            archive.writestr(n, data)
    try:
        text = load_document(path).text
    except DocumentError as exc:  # refusing the file is as good as not expanding
        text = exc.reason
    assert "哈哈" not in text and len(text) < 1000
