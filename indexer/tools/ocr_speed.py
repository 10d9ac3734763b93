"""OCR throughput: pages of real corpus text rendered as a scanned PDF and read back, timed.

    python -m indexer.tools.ocr_speed --pages 4 --dpi 300 --workers 2

Prints wall-clock pages/min and Tesseract's CPU seconds per page (children's user+sys
time, which does not depend on what else the machine is doing), the load average
and the character error rate against the rendered text. Wall-clock figures on a
shared machine are lower bounds; 60 * workers / CPU-s-per-page is the figure for
an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from indexer.formats import extract
from indexer.formats.ocr import OcrOptions
from indexer.tools.scans import Scan, cer, layout, page_text, render_page, save_pdf

CORPUS_DOC = (
    Path(__file__).resolve().parents[2]
    / "data/corpus/cpc-congress-reports/坚定不移沿着中国特色社会主义道路前进 为全面建成小康社会而奋斗 (十八大).txt"
)


def measure(pages: int, dpi: int, workers: int) -> dict:
    """Render `pages` pages, OCR them as one scanned PDF, return the timings."""
    paragraphs = [p for p in CORPUS_DOC.read_text(encoding="utf-8").split("\n") if p.strip()][5:]
    scan = Scan(dpi=dpi, rotate=0.5, noise=0.001, seed=7)
    laid = layout(paragraphs, scan)[:pages]
    images = [render_page(lines, n, scan) for n, lines in enumerate(laid, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        raw = save_pdf(images, Path(tmp) / "scan.pdf", dpi).read_bytes()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    extracted = extract(".pdf", raw, 10**8, ocr=OcrOptions(dpi=dpi, workers=workers))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    expected = "".join(page_text(lines) for lines in laid)
    return {
        "pages": len(images),
        "dpi": dpi,
        "workers": workers,
        "wall_s": round(wall, 1),
        "pages_per_min_wall": round(len(images) / wall * 60, 1),
        "cpu_s_per_page": round(cpu / len(images), 1),
        "pages_per_min_idle": round(60 * workers / (cpu / len(images)), 1),
        "load_average": round(os.getloadavg()[0], 1),
        "cer": round(cer(expected, extracted.text), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.pages, args.dpi, args.workers), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
