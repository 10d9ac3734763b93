"""What sentence vectors add to index build time: CPU seconds to embed the same chunks in each mode.

    OMP_NUM_THREADS=1 python -m indexer.tools.sentence_cost [--chunks 96] [--reps 2]

CPU time of this process (not wall time), so other jobs on a shared machine barely move the
figures; the same chunks of the real corpus go through `pipeline.embed_chunks` in every mode.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from indexer.config import DATA_DIR, Settings
from indexer.embedding import load_embedder
from indexer.pipeline import SENTENCE_MODES, chunk_documents, embed_chunks, load_documents


def measure(n_chunks: int, reps: int, settings: Settings) -> dict[str, float]:
    """Best-of-`reps` CPU seconds per mode for the first `n_chunks` chunks of data/corpus."""
    embedder = load_embedder(settings)
    docs, _ = load_documents(sorted((DATA_DIR / "corpus").rglob("*.txt"))[:3], settings)
    chunks = chunk_documents(docs, settings)[:n_chunks]
    texts = [c.embedding_text() for c in chunks]
    embed_chunks(chunks[:4], texts[:4], embedder, "span")  # warm-up: first-use kernels are not build time
    best: dict[str, float] = {}
    for _ in range(reps):
        for mode in SENTENCE_MODES:
            t0 = time.process_time()
            embed_chunks(chunks, texts, embedder, mode)
            best[mode] = min(best.get(mode, float("inf")), time.process_time() - t0)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m indexer.tools.sentence_cost", description=__doc__.split("\n")[0])
    p.add_argument("--chunks", type=int, default=96)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args(argv)
    best = measure(args.chunks, args.reps, Settings.from_env())
    off = best["off"]
    print(json.dumps({m: {"cpu_s": round(s, 2), "x_off": round(s / off, 2)} for m, s in best.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
