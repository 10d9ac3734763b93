"""Loading documents: encodings, normalisation, errors, ids and metadata."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path

import pytest

from indexer.documents import (
    DocumentError,
    decode_bytes,
    iter_documents,
    load_document,
    normalise_text,
    safe_doc_id,
)
from tests.support.corpus import CORPUS_DIR, SEEDS_DIR

SEED = SEEDS_DIR / "000_025b12c513c7c695.txt"
REPORTS = CORPUS_DIR / "gov-work-reports"
CONGRESS = CORPUS_DIR / "cpc-congress-reports"

SIMPLIFIED = (
    "各位代表：\n现在，我代表国务院，向大会报告政府工作，请予审议。\n一、2023年工作回顾\n过去一年，经济总体回升向好。"
)
TRADITIONAL = "各位代表：\n我們第一屆全國人民代表大會第一次會議，在聽了關於憲法草案的報告以後，已經光榮地完成了工作。"


def write(path: Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def corpus_files() -> list[Path]:
    return sorted(CORPUS_DIR.rglob("*.txt"))


# --- encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "text", "reported"),
    [
        ("utf-8", SIMPLIFIED, "utf-8"),
        ("utf-8-sig", SIMPLIFIED, "utf-8-sig"),
        ("gb18030", SIMPLIFIED, "gb18030"),
        ("big5", TRADITIONAL, "big5"),
        ("utf-8", TRADITIONAL, "utf-8"),
        ("utf-16", SIMPLIFIED, "utf-16"),
    ],
)
def test_decodes_each_supported_encoding(tmp_path, encoding, text, reported):
    doc = load_document(write(tmp_path / "doc.txt", text, encoding))
    assert doc.text == text
    assert doc.meta["encoding"] == reported
    assert not doc.text.startswith("\ufeff")


def test_big5_is_not_misread_as_gb18030():
    """Big5 bytes are valid GB18030 too; the plausibility check must still pick Big5."""
    raw = TRADITIONAL.encode("big5")
    raw.decode("gb18030")  # the trap: no error, just mojibake
    assert decode_bytes(raw) == (TRADITIONAL, "big5")


def test_real_1954_report_round_trips_through_big5(tmp_path):
    original = (REPORTS / "1954年中华人民共和国国务院政府工作报告.txt").read_text(encoding="utf-8")[:5000]
    raw = original.encode("big5", errors="ignore")
    doc = load_document(write(tmp_path / "1954年政府工作报告.txt", raw))
    assert doc.meta["encoding"] == "big5"
    assert "全國人民代表大會第一次會議，在聽了劉少奇同志關於憲法草案的報告" in doc.text


# --- normalisation --------------------------------------------------------------------


def test_crlf_fullwidth_spaces_zero_width_and_blank_lines_are_normalised(tmp_path):
    raw = (
        "\ufeff\u3000\u3000政府工作报告\u3000\r\n\r\n"
        "\u3000\u3000一、总体要求\t \r\n\r\n\r\n"
        "\u3000\u3000现在，我代表国务院\u200b向大会作报告。\r"
        "\u00a0\u00a0\r\n"
        "\u3000\u3000李\u3000强\r\n"
    )
    doc = load_document(write(tmp_path / "r.txt", raw))
    assert doc.text == "政府工作报告\n一、总体要求\n现在，我代表国务院向大会作报告。\n李 强"


def test_lines_split_by_links_are_joined_but_headings_are_not():
    """Scraped pages break a paragraph wherever a link was; blank lines mark real paragraphs."""
    raw = (
        "一、过去五年的工作\n\n"
        "党中央召开七次全会，分别就全面推进依法治国、制定\n“十三五”规划\n、全面从严治党等重大问题作出决定。\n\n"
        "毛主席发表了《\n关于正确处理人民内部矛盾的问题\n》这部伟大著作。\n\n"
        "广义货币M\n2\n增长13.6%。\n\n"
        "二、新时代的历史使命\n历史使命的正文。\n\n"
        "三、\n我国人民已经推翻了帝国主义。"
    )
    assert normalise_text(raw).split("\n") == [
        "一、过去五年的工作",
        "党中央召开七次全会，分别就全面推进依法治国、制定“十三五”规划、全面从严治党等重大问题作出决定。",
        "毛主席发表了《关于正确处理人民内部矛盾的问题》这部伟大著作。",
        "广义货币M2增长13.6%。",
        "二、新时代的历史使命",
        "历史使命的正文。",
        "三、我国人民已经推翻了帝国主义。",
    ]


def test_one_line_per_paragraph_files_keep_their_line_breaks():
    raw = "一、深刻领会会议精神\n会议指出，要坚定信心\n一是进一步筑牢屏障。要抓落实\n"
    assert normalise_text(raw).split("\n") == [
        "一、深刻领会会议精神",
        "会议指出，要坚定信心",
        "一是进一步筑牢屏障。要抓落实",
    ]


def test_wikisource_licence_footer_is_dropped():
    doc = load_document(REPORTS / "2024年中华人民共和国国务院政府工作报告.txt")
    assert "本作品是中华人民共和国的" not in doc.text
    assert "Public domain" not in doc.text
    assert doc.text.endswith(
        "\n使命重在担当，奋斗创造未来。我们要更加紧密地团结在以习近平同志为核心的党中央周围，"
        "高举中国特色社会主义伟大旗帜，以习近平新时代中国特色社会主义思想为指导，坚定信心、开拓进取，"
        "努力完成全年经济社会发展目标任务，为以中国式现代化全面推进强国建设、民族复兴伟业不懈奋斗！"
    )


def test_whole_corpus_loads_clean():
    docs, errors = iter_documents(corpus_files())
    assert errors == []
    assert len(docs) == 87
    for doc in docs:
        lines = doc.text.split("\n")
        assert all(line and line == line.strip() for line in lines), doc.doc_id
        assert not re.search("[\r\u3000\u200b\ufeff]", doc.text), doc.doc_id
        assert "公有领域" not in doc.text[-300:], doc.doc_id
        assert doc.content_hash == hashlib.sha256(doc.text.encode("utf-8")).hexdigest()


# --- errors ------------------------------------------------------------------------------


def test_bad_files_are_reported_and_the_rest_of_the_batch_loads(tmp_path):
    good = write(tmp_path / "a_good.txt", SIMPLIFIED)
    write(tmp_path / "b_image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    write(tmp_path / "c_empty.txt", b"")
    write(tmp_path / "d_blank.md", "\u3000\u3000\n\u200b\n\n".encode())
    rng = random.Random(7)
    write(tmp_path / "e_garbage.txt", bytes(rng.randrange(0x80, 0x100) for _ in range(2000)))
    also_good = write(tmp_path / "f_gbk.txt", SIMPLIFIED + "\n二、今年工作任务", "gb18030")

    docs, errors = iter_documents([tmp_path])

    assert [d.source_path for d in docs] == [str(good), str(also_good)]
    reasons = {e.path.name: e.reason for e in errors}
    assert set(reasons) == {"b_image.txt", "c_empty.txt", "d_blank.md", "e_garbage.txt"}
    assert "binary" in reasons["b_image.txt"]
    assert "empty" in reasons["c_empty.txt"]
    assert "no text" in reasons["d_blank.md"]
    assert "undecodable" in reasons["e_garbage.txt"]
    assert all(isinstance(e, DocumentError) and str(e.path) in str(e) for e in errors)


def test_load_document_raises_readable_errors(tmp_path):
    with pytest.raises(DocumentError, match="unsupported file type '.rtf'"):
        load_document(write(tmp_path / "x.rtf", SIMPLIFIED))
    with pytest.raises(DocumentError, match="not a PDF file"):
        load_document(write(tmp_path / "x.pdf", SIMPLIFIED))
    with pytest.raises(DocumentError, match="not found"):
        load_document(tmp_path / "missing.txt")
    _, errors = iter_documents([tmp_path / "nowhere"])
    assert [e.reason for e in errors] == ["no such file or folder"]


# --- ids, titles, metadata ---------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("2024年中华人民共和国国务院政府工作报告", "2024年中华人民共和国国务院政府工作报告"),
        ("全面建设小康社会，开创新局面 (十六大)", "全面建设小康社会-开创新局面-十六大"),
        ("000_025b12c513c7c695", "000_025b12c513c7c695"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", None),
        ("a\\b/c?d*e", "a-b-c-d-e"),
    ],
)
def test_doc_ids_are_safe(stem, expected):
    doc_id = safe_doc_id(stem)
    assert re.fullmatch(r"[\w-]+", doc_id)
    assert "/" not in doc_id and ".." not in doc_id and "\\" not in doc_id
    if expected is not None:
        assert doc_id == expected
    assert safe_doc_id(stem) == doc_id  # stable


def test_hostile_file_names_give_safe_ids(tmp_path):
    target = write(tmp_path / "etc" / "passwd.txt", SIMPLIFIED)
    (tmp_path / "sub").mkdir()
    doc = load_document(tmp_path / "sub" / ".." / ".." / tmp_path.name / "etc" / "passwd.txt")
    assert doc.doc_id == "passwd"
    weird = load_document(write(tmp_path / "..%2F..%2Fx .txt", SIMPLIFIED + "。"))
    assert re.fullmatch(r"[\w-]+", weird.doc_id) and ".." not in weird.doc_id
    assert target.exists()


def test_repeated_texts_are_reported_and_ids_stay_stable(tmp_path):
    write(tmp_path / "a" / "report.txt", SIMPLIFIED)
    write(tmp_path / "b" / "report.txt", SIMPLIFIED + "另一段。")
    write(tmp_path / "c" / "copy.txt", SIMPLIFIED.replace("\n", "\r\n"))  # same text once normalised
    docs, errors = iter_documents([tmp_path, tmp_path / "a" / "report.txt"])
    # Ids depend on the file name only; the indexer reports the clash of the two "report"s.
    assert [(d.doc_id, Path(d.source_path).parent.name) for d in docs] == [("report", "a"), ("report", "b")]
    assert len(errors) == 1 and "same text as" in errors[0].reason and errors[0].path.name == "copy.txt"


def test_folders_are_walked_sorted_skipping_hidden_sidecars_and_notes(tmp_path):
    for name in ["b.txt", "a.md", "sub/c.txt", ".hidden.txt", ".git/d.txt", "e.rtf", "README.md", "~$lock.docx"]:
        write(tmp_path / name, SIMPLIFIED + name)
    write(tmp_path / "a.meta.json", '{"title": "甲"}')
    docs, errors = iter_documents([tmp_path])
    assert errors == []
    assert [Path(d.source_path).relative_to(tmp_path).as_posix() for d in docs] == ["a.md", "b.txt", "sub/c.txt"]
    assert docs[0].title == "甲"


def test_sidecar_metadata_wins(tmp_path):
    path = write(tmp_path / "9f86d081884c7d65.txt", "第一行不是标题。\n正文。")
    meta = {
        "title": "关于加强基层治理的意见",
        "year": "2019",
        "type": "opinion",
        "source": "https://example.org/x",
        "date": "2019-05-01",
    }
    write(tmp_path / "9f86d081884c7d65.meta.json", json.dumps(meta, ensure_ascii=False))
    doc = load_document(path)
    assert doc.title == "关于加强基层治理的意见"
    assert doc.meta | {"encoding": None} == {
        "type": "opinion",
        "year": 2019,
        "source": "https://example.org/x",
        "date": "2019-05-01",
        "encoding": None,
    }


def test_broken_sidecar_is_an_error(tmp_path):
    path = write(tmp_path / "doc.txt", SIMPLIFIED)
    write(tmp_path / "doc.meta.json", "{not json")
    with pytest.raises(DocumentError, match="doc.meta.json"):
        load_document(path)


def test_seed_sidecar_gives_the_speech_its_title():
    doc = load_document(SEED)
    assert doc.doc_id == "000_025b12c513c7c695"
    assert doc.title == "区委宣传部部长理论学习中心组专题学习发言"
    assert doc.meta["type"] == "speech" and doc.meta["year"] == 2021


def test_title_falls_back_to_a_readable_stem_then_the_first_line(tmp_path):
    assert load_document(write(tmp_path / "关于农村改革的讲话.txt", SIMPLIFIED)).title == "关于农村改革的讲话"
    long_first_line = "这是一个很长的第一行" * 10 + "。\n正文。"
    doc = load_document(write(tmp_path / "3f2a9c0d1e4b5a67.txt", long_first_line))
    assert doc.title == long_first_line[:60]


@pytest.mark.parametrize(
    ("path", "year", "kind"),
    [
        (REPORTS / "2024年中华人民共和国国务院政府工作报告.txt", 2024, "report"),
        (REPORTS / "1954年中华人民共和国国务院政府工作报告.txt", 1954, "report"),
        (REPORTS / "1964年中华人民共和国国务院政府工作报告（摘要）.txt", 1964, "report"),
        (REPORTS / "第十四届全国人民代表大会第一次会议关于政府工作报告的决议.txt", 2023, "resolution"),  # header date
        (REPORTS / "第十四届全国人民代表大会第二次会议关于政府工作报告的决议.txt", 2024, "resolution"),  # NPC table
        (REPORTS / "第十届全国人民代表大会第五次会议关于政府工作报告的决议.txt", 2007, "resolution"),
        (CONGRESS / "高举中国特色社会主义伟大旗帜 为全面建设社会主义现代化国家而团结奋斗 (二十大).txt", 2022, "report"),
        (CONGRESS / "在中国共产党第九次全国代表大会上的报告.txt", 1969, "report"),  # congress table
    ],
)
def test_year_and_type_are_guessed_from_real_titles(path, year, kind):
    doc = load_document(path)
    assert doc.meta.get("year") == year
    assert doc.meta["type"] == kind
    assert doc.title == path.stem and doc.source_path == str(path)
