"""How a bench hands back its figures: printed for the reader, written as JSON for the README's tables."""

from __future__ import annotations

import json
from pathlib import Path


def report(results: dict, out: Path) -> None:
    """Write `results` to `out` (folders made) and print them, both as indented JSON."""
    text = json.dumps(results, ensure_ascii=False, indent=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
