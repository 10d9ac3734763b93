"""OFD packages (GB/T 33190) written by the tests: OFD.xml, Document.xml, one Content.xml per page."""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

NS = "http://www.ofdspec.org/2016"
LINE_MM = 7.0  # baseline to baseline
SIZE_MM = 5.0
LEFT_MM = 25.0


def _text_objects(lines: list[str], per_char: bool, start_id: int) -> str:
    """Each line one TextObject, or (per_char) one TextObject per character, listed in shuffled order."""
    objects = []
    next_id = start_id
    for i, line in enumerate(lines):
        y = 30.0 + i * LINE_MM
        indent = 2 * SIZE_MM if line.startswith("\u3000\u3000") else 0.0
        text = line.lstrip("\u3000")
        pieces = [(k, ch) for k, ch in enumerate(text)] if per_char else [(0, text)]
        for k, piece in pieces:
            x = LEFT_MM + indent + k * SIZE_MM
            width = SIZE_MM * len(piece)
            objects.append(
                f'<ofd:TextObject ID="{next_id}" Boundary="{x} {y} {width} {SIZE_MM * 1.4}" Font="3" '
                f'Size="{SIZE_MM}"><ofd:TextCode X="0" Y="{SIZE_MM}">{escape(piece)}</ofd:TextCode></ofd:TextObject>'
            )
            next_id += 1
    if per_char:  # producers do not promise reading order: the reader must sort by position
        objects = objects[1::2] + objects[0::2]
    return "".join(objects)


def make_ofd(
    path: Path,
    pages: list[list[str]],
    title: str = "",
    created: str = "",
    per_char: bool = False,
    encrypted: bool = False,
    page_numbers: bool = True,
) -> Path:
    """An OFD package with these lines on these pages (a line starting with two U+3000 is indented)."""
    info = f"<ofd:DocID>test-{path.stem}</ofd:DocID>"
    info += f"<ofd:Title>{escape(title)}</ofd:Title>" if title else ""
    info += f"<ofd:CreationDate>{created}</ofd:CreationDate>" if created else ""
    encryption = "<ofd:Encryptions>Encryptions.xml</ofd:Encryptions>" if encrypted else ""
    ofd_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD">'
        f"<ofd:DocBody><ofd:DocInfo>{info}</ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
        f"{encryption}</ofd:DocBody></ofd:OFD>"
    )
    page_refs = "".join(f'<ofd:Page ID="{100 + n}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in range(len(pages)))
    document_xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document xmlns:ofd="{NS}"><ofd:CommonData>'
        f"<ofd:MaxUnitID>9999</ofd:MaxUnitID><ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox>"
        f"</ofd:PageArea><ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>"
        f"<ofd:Pages>{page_refs}</ofd:Pages></ofd:Document>"
    )
    public_res = (
        f'<?xml version="1.0" encoding="UTF-8"?><ofd:Res xmlns:ofd="{NS}" BaseLoc="Res"><ofd:Fonts>'
        f'<ofd:Font ID="3" FontName="宋体" FamilyName="宋体"/></ofd:Fonts></ofd:Res>'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", ofd_xml)
        archive.writestr("Doc_0/Document.xml", document_xml)
        archive.writestr("Doc_0/PublicRes.xml", public_res)
        if encrypted:
            archive.writestr("Encryptions.xml", f'<ofd:Encryptions xmlns:ofd="{NS}"/>')
        for n, lines in enumerate(pages):
            body = _text_objects(lines, per_char, 1000 * (n + 1))
            if page_numbers:
                number = f"- {n + 1} -"
                body += (
                    f'<ofd:TextObject ID="{1000 * (n + 1) + 999}" Boundary="95 280 20 7" Font="3" Size="{SIZE_MM}">'
                    f'<ofd:TextCode X="0" Y="{SIZE_MM}">{number}</ofd:TextCode></ofd:TextObject>'
                )
            content = (
                f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page xmlns:ofd="{NS}"><ofd:Content>'
                f'<ofd:Layer ID="{n + 1}">{body}</ofd:Layer></ofd:Content></ofd:Page>'
            )
            archive.writestr(f"Doc_0/Pages/Page_{n}/Content.xml", content)
    return path
