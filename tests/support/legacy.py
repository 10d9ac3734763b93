"""The legacy Word fixture: tests/fixtures/基层治理通知.doc, and how it was made (python-docx, then LibreOffice).

.venv/bin/python -c "from tests.support.legacy import rebuild; rebuild()"   # needs soffice
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "基层治理通知.doc"
TABLE = [
    ["指标", "2023年", "2025年目标"],
    ["城乡社区综合服务设施覆盖率（按行政村和城市社区计算的比例）", "90%", "100%"],
    ["网格员数量（万人）", "450", "500"],
]
needs_doc_tools = pytest.mark.skipif(
    not (shutil.which("catdoc") and shutil.which("antiword")), reason="catdoc/antiword missing (make formats)"
)
needs_libreoffice = pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice (soffice) not installed")


def build_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = "关于加强基层治理的通知"
    d.add_paragraph("关于加强基层治理的通知", style="Title")
    d.add_heading("一、总体要求", 1)
    d.add_paragraph(
        "坚持党的全面领导，推进基层治理体系和治理能力现代化，夯实基层基础。到2025年，党组织统一领导、"
        "政府依法履责、各类组织积极协同、群众广泛参与的基层治理体系基本形成。"
    )
    d.add_heading("二、主要指标", 1)
    d.add_paragraph("表1 主要指标")
    table = d.add_table(rows=len(TABLE), cols=3)
    for r, row in enumerate(TABLE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_heading("工作保障", 2)
    d.add_paragraph("健全乡镇（街道）管理体制，增强乡镇（街道）行政执行能力。")
    d.save(str(path))
    return path


def to_doc(docx_path: Path, out_dir: Path) -> Path:
    """LibreOffice's Word 97 export of a .docx (what WPS Office also writes as .wps)."""
    profile = (out_dir / "profile").as_uri()
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "doc",
            "--outdir",
            str(out_dir),
            str(docx_path),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out_dir / (docx_path.stem + ".doc")


def rebuild() -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        made = to_doc(build_docx(Path(tmp) / "notice.docx"), Path(tmp))
        shutil.copyfile(made, FIXTURE)
    return FIXTURE
