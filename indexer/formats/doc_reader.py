"""Legacy Word .doc and WPS .wps (the Word 97 binary format WPS Office writes) through Debian tools.

Measured on the same notice (headings, a 3x3 table with a long cell) on this machine:
catdoc 0.03 s, one line per paragraph, a table row per line with tab-separated cells;
antiword 0.01 s, but a long cell wraps onto a second table row; LibreOffice headless
(converted to .docx, then read by the .docx reader) keeps Word heading styles, but
costs ~7 s a file. So catdoc reads first, antiword if catdoc fails, and LibreOffice
only when both fail (an RTF or Works file saved as .doc/.wps) and it is installed.
Headings come from numbering (一、（一）…) as in plain text. A .docx renamed .doc
goes to the .docx reader.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from indexer.formats import Block, Extracted, FormatError, assemble_tables

TOOL_TIMEOUT_S = 60
LIBREOFFICE_TIMEOUT_S = 180
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
CELL_SEPARATOR = " | "  # as the .docx reader writes table rows
_CONVERTER_TITLES = {"word document", "microsoft word document", "wps document"}
MISSING = "no reader for .doc/.wps installed: apt-get install catdoc antiword (make formats)"


def _run(command: list[str], timeout: int) -> str:
    done = subprocess.run(command, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(message[-1] if message else f"{command[0]} exited with {done.returncode}")
    return done.stdout.decode("utf-8", "replace")


def _blocks(text: str, table_sep: str) -> list[Block]:
    """One paragraph per line; a line with cell separators is a table row, its cells joined by " | "."""
    blocks: list[Block] = []
    tables = 0
    for line in text.replace("\f", "\n").split("\n"):
        table = 0
        if table_sep in line:
            cells = [cell.strip() for cell in line.strip().strip(table_sep).split(table_sep)]
            line = CELL_SEPARATOR.join(cell for cell in cells if cell)
            tables += not (blocks and blocks[-1].table)  # consecutive rows are one table
            table = tables
        if line.strip():
            blocks.append(Block(line, table=table))
    return blocks


def _catdoc(path: Path) -> list[Block]:
    return _blocks(_run(["catdoc", "-d", "utf-8", "-w", str(path)], TOOL_TIMEOUT_S), "\t")


def _antiword(path: Path) -> list[Block]:
    return _blocks(_run(["antiword", "-m", "UTF-8.txt", "-w", "0", str(path)], TOOL_TIMEOUT_S), "|")


def _libreoffice(path: Path, max_bytes: int) -> Extracted:
    from indexer.formats import docx_reader

    with tempfile.TemporaryDirectory() as out:
        profile = Path(out, "profile").as_uri()  # a private profile: no clash with another running soffice
        command = ["soffice", f"-env:UserInstallation={profile}", "--headless", "--norestore"]
        _run([*command, "--convert-to", "docx", "--outdir", out, str(path)], LIBREOFFICE_TIMEOUT_S)
        converted = Path(out, path.stem + ".docx")
        if not converted.is_file():
            raise RuntimeError("LibreOffice wrote no .docx")
        extracted = docx_reader.read(converted.read_bytes(), max_bytes)
    if extracted.title.lower() in _CONVERTER_TITLES:
        extracted.title = ""  # the converter's placeholder, not the document's title
    return extracted


def _tools() -> list[str]:
    return [tool for tool in ("catdoc", "antiword", "soffice") if shutil.which(tool)]


def read(raw: bytes, max_bytes: int) -> Extracted:
    if raw.startswith(b"PK"):
        from indexer.formats import docx_reader

        return docx_reader.read(raw, max_bytes)  # a .docx given the old name
    if not raw.startswith(OLE_MAGIC) and not raw.lstrip().startswith(b"{\\rtf"):
        raise FormatError("not a Word .doc / WPS .wps file (no OLE2 header)")
    tools = _tools()
    if not tools:
        raise FormatError(MISSING)
    if raw.startswith(OLE_MAGIC) is False:
        tools = [t for t in tools if t == "soffice"] or tools  # RTF: only LibreOffice reads it well
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "document.doc")
        path.write_bytes(raw)
        for tool in tools:
            try:
                if tool == "soffice":
                    return _libreoffice(path, max_bytes)
                blocks = _catdoc(path) if tool == "catdoc" else _antiword(path)
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                failures.append(f"{tool}: {exc}")
                continue
            text, headings, spans = assemble_tables(blocks)
            if text:
                if len(text) > max_bytes:
                    raise FormatError(f"more than {max_bytes} characters of text; refused")
                return Extracted(text=text, headings=headings, tables=spans)
            failures.append(f"{tool}: no text")
    raise FormatError(f"cannot read this Word/WPS file ({'; '.join(failures)})")
