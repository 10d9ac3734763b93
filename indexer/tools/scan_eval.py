"""Scanned copies against text copies: does OCR cost retrieval quality?

    python -m indexer.tools.scan_eval                   # the whole policy eval index (88 documents)
    python -m indexer.tools.scan_eval --base data/index-eval/policy --dpi 300
    python -m indexer.tools.scan_eval --rotate -1.0 --noise 0.002 --seed 3   # other scans of the same pages

Five corpus documents that have questions in data/eval/policy_queries.jsonl are
rendered as image-only PDFs (A4, 200 dpi, turned 0.5°, speckled: indexer.tools.scans)
under data/tmp/scans/. The text copies are the policy eval index as `make eval` builds
it (`--base`, built there when missing); a copy of it gets the five replaced by their
scans (read back by OCR, the real model embeds them), so the scans compete with all
88 documents exactly as their text copies do. Both answer the five documents'
questions; the MRR@10 of each mode, the difference, each question's first correct
rank and the character error rate of each scan are printed and written as JSON
(`--json`). Issue 14 asks for a difference within 0.03.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from indexer.config import DATA_DIR, Settings
from indexer.documents import load_document, safe_doc_id
from indexer.pipeline import add_documents
from indexer.retrieval import SearchEngine
from indexer.tools.eval.evaluate import evaluate
from indexer.tools.eval.judge import normalize
from indexer.tools.eval.queries import CORPUS_DIR, POLICY_QUERIES, load_queries
from indexer.tools.eval.suites import SUITES, build_suite
from indexer.tools.ocr_speed import cer
from indexer.tools.scans import Scan, render, save_pdf

DOCS = (
    "cpc-congress-reports/陈独秀在中国共产党第三次全国代表大会上的报告.txt",
    "cpc-congress-reports/廣州共產黨報告 (一大).txt",
    "cpc-congress-reports/北京共产主义组织的报告 (一大).txt",
    "gov-work-reports/1975年中华人民共和国国务院政府工作报告.txt",
    "gov-work-reports/第二届全国人民代表大会第三次会议关于政府工作报告的决议.txt",
)
SCAN_DIR = DATA_DIR / "tmp" / "scans"
MAX_DIFF = 0.03


def scan_documents(paths: list[Path], scan: Scan, out_dir: Path = SCAN_DIR) -> list[Path]:
    """Each document's normalised text printed and scanned to `<out_dir>/<same name>.pdf`."""
    out = []
    for path in paths:
        paragraphs = load_document(path).text.split("\n")
        out.append(save_pdf(render(paragraphs, scan), out_dir / (path.stem + ".pdf"), scan.dpi))
    return out


def _queries(paths: list[Path]) -> list:
    stems = {normalize(p.stem) for p in paths}
    return [q for q in load_queries(POLICY_QUERIES) if any(normalize(q.doc) in s for s in stems)]


def _mrr(settings: Settings, queries: list, modes: tuple[str, ...]) -> tuple[dict[str, float], dict[str, list]]:
    """MRR@10 per mode, and per mode the rank of the first correct passage of each question (None: missed)."""
    engine = SearchEngine.open(settings)
    outcomes = evaluate(engine, queries, modes=modes, set_name="scan")
    mrr = {m: round(sum(o.metrics["MRR@10"] for o in outcomes if o.mode == m) / len(queries), 4) for m in modes}
    return mrr, {m: [[o.query.id, o.first_hit] for o in outcomes if o.mode == m] for m in modes}


def _error_rates(paths: list[Path], scan_settings: Settings) -> dict[str, float]:
    """Character error rate of each scanned document's indexed text against its text copy."""
    engine = SearchEngine.open(scan_settings)
    rates = {}
    for path in paths:
        scanned = engine.document(safe_doc_id(path.stem))
        rates[path.stem] = round(cer(load_document(path).text, scanned.text if scanned else ""), 4)
    return rates


def _base_index(base: Path, settings: Settings) -> Path:
    """The text copies' index: the policy eval index, built (as `make eval` does) when it is not there."""
    if not (base / "CURRENT").exists():
        suite = replace(SUITES["policy"], index_dir=base)
        build_suite(suite, settings)
    return base


def run(base: Path, scan: Scan, modes: tuple[str, ...], settings: Settings) -> dict:
    chosen = [CORPUS_DIR / d for d in DOCS]
    queries = _queries(chosen)
    t0 = time.perf_counter()
    dpi = scan.dpi
    pdfs = scan_documents(chosen, scan)
    base = _base_index(base, settings)
    with tempfile.TemporaryDirectory() as tmp:
        text_settings = replace(settings, index_dir=Path(tmp) / "text", ocr_dpi=dpi)
        scan_settings = replace(text_settings, index_dir=Path(tmp) / "scan")
        shutil.copytree(base, text_settings.index_dir)
        shutil.copytree(base, scan_settings.index_dir)
        t1 = time.perf_counter()
        report = add_documents(pdfs, scan_settings, progress=True)
        ocr_s = time.perf_counter() - t1
        (text_mrr, text_ranks), (scan_mrr, scan_ranks) = (
            _mrr(text_settings, queries, modes),
            _mrr(scan_settings, queries, modes),
        )
        rates = _error_rates(chosen, scan_settings)
        documents = len(SearchEngine.open(scan_settings).documents())
    return {
        "documents": [p.stem for p in chosen],
        "index_documents": documents,
        "questions": len(queries),
        "dpi": dpi,
        "scan": {"rotate": scan.rotate, "noise": scan.noise, "seed": scan.seed},
        "replaced": report.replaced,
        "ocr_and_add_s": round(ocr_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "mrr_text": text_mrr,
        "mrr_scan": scan_mrr,
        "diff": {m: round(scan_mrr[m] - text_mrr[m], 4) for m in modes},
        "cer": rates,
        "first_hit_text": text_ranks,
        "first_hit_scan": scan_ranks,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--base", type=Path, default=SUITES["policy"].index_dir, help="the text copies' index (policy eval index)"
    )
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--rotate", type=float, default=0.5, help="degrees the pages are turned")
    parser.add_argument("--noise", type=float, default=0.001, help="share of pixels speckled")
    parser.add_argument("--seed", type=int, default=14, help="where the specks fall")
    parser.add_argument("--modes", default="hybrid,dense,lexical")
    parser.add_argument("--json", type=Path, default=DATA_DIR / "bench" / "scan_eval.json")
    args = parser.parse_args(argv)
    scan = Scan(dpi=args.dpi, rotate=args.rotate, noise=args.noise, seed=args.seed)
    result = run(args.base, scan, tuple(args.modes.split(",")), Settings.from_env())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    worst = max(abs(d) for d in result["diff"].values())
    print(f"largest MRR@10 difference {worst:.4f} (issue 14 asks for at most {MAX_DIFF})")
    return 0 if worst <= MAX_DIFF else 1


if __name__ == "__main__":
    raise SystemExit(main())
