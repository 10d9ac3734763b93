"""Serving memory with the Milvus backend: a serving process's resident set at 5k and 100k chunks, with BM25 in
Milvus (sparse vectors) and with BM25 rebuilt in the process from the stored tokens.

    python -m indexer.tools.bench.serving_rss [--index data/index-eval/policy] [--sizes 5000 100000]
        [--out data/bench/serving_rss.json]

Chunks are synthetic as in the size bench (real sentences, vectors mixed from real embeddings). For each size a
Milvus server runs as its own process (`python -m milvus_lite server`: Milvus Lite 3.2.2 served over gRPC, the
server here that has sparse vectors; the 2.3.5 standalone has none) and the chunks are written into it once (with
sparse vectors, so both modes read the same collection); then, for each lexical mode, a fresh process opens a
SearchEngine on it (random query vectors stand in for the model: the figure is the engine's memory without the
model's), runs 40 searches (lexical, hybrid, dense) and reports its VmRSS and peak (VmHWM). The server's memory
is reported apart: it is what a Milvus server or cluster holds instead of the serving processes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from indexer.config import DATA_DIR
from indexer.tools.bench.output import report

MODES = ("auto", "process")  # milvus_lexical: sparse vectors in Milvus / BM25 in the serving process
SEARCHES = 40


def _status_mb(pid: str | int = "self") -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """A Milvus Lite gRPC server in its own process; (process, uri) once it answers."""
    port = _free_port()
    cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        import socket

        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, uri
        if proc.poll() is not None:
            raise RuntimeError("the Milvus Lite server did not start")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the Milvus Lite server did not answer within 120 s")


def write_child(index: Path, n: int, uri: str, folder: Path) -> dict:
    """(In its own process: Milvus Lite serves one process at a time.) Synthesise n chunks and write them."""
    from indexer.store import carried_manifest, open_current
    from indexer.store.milvus import MilvusStore
    from indexer.tools.bench.synth import SyntheticCorpus

    real = open_current(index)
    manifest = carried_manifest(real.manifest)
    content = SyntheticCorpus(real.content(), seed=0).content(n)
    store = MilvusStore(uri, "rss", lock_dir=folder)
    t0 = time.perf_counter()
    with store.lock():
        store.write(content, manifest)
    queries = [" ".join(t[:4]) or "发展" for t in content.tokens[:: max(1, n // SEARCHES)]][:SEARCHES]
    return {"write_s": round(time.perf_counter() - t0, 1), "queries": queries, "model": manifest["model"],
            "dim": int(manifest["dim"])}


def serve_child(uri: str, mode: str, folder: Path, queries: list[str], model: str, dim: int) -> dict:
    """(In its own process.) Open the engine, search, and report this process's memory."""
    from indexer.config import Settings
    from indexer.retrieval import SearchEngine
    from indexer.tools.bench.incremental import RandomQueries

    before = _status_mb()
    settings = Settings.from_env({}, milvus_uri=uri, milvus_collection="rss", milvus_lexical=mode,
                                 index_dir=folder)
    t0 = time.perf_counter()
    engine = SearchEngine.open(settings, embedder=RandomQueries(model, dim))
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i, q in enumerate(queries):
        engine.search(q, k=10, mode=("lexical", "hybrid", "dense")[i % 3])
    search_ms = (time.perf_counter() - t0) * 1000 / max(len(queries), 1)
    after = _status_mb()
    return {
        "mode": type(engine.version.bm25).__name__,
        "chunks": engine.version.n_chunks,
        "start_rss_mb": round(before["VmRSS"], 1),
        "rss_mb": round(after["VmRSS"], 1),
        "peak_rss_mb": round(after["VmHWM"], 1),
        "open_s": round(open_s, 2),
        "search_ms": round(search_ms, 1),
    }


def _child(args: list[str], payload: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "indexer.tools.bench.serving_rss", *args]
    done = subprocess.run(cmd, input=json.dumps(payload or {}), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(index: Path, sizes: Sequence[int], work: Path) -> dict:
    out: dict = {"source_index": str(index), "searches": SEARCHES, "sizes": []}
    for n in sizes:
        folder = work / f"rss-{n}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        server, uri = start_server(folder / "milvus")
        try:
            written = _child(["--write", str(index), str(n), uri, str(folder)])
            log(f"{n} chunks written in {written['write_s']} s")
            row = {"chunks": n, "write_s": written["write_s"]}
            for mode in MODES:
                row[mode] = _child(["--serve", uri, mode, str(folder)], written)
                log(f"{n} chunks, lexical {mode}: {row[mode]}")
            row["server_rss_mb"] = round(_status_mb(server.pid)["VmRSS"], 1)
        finally:
            server.terminate()
            server.wait(30)
        out["sizes"].append(row)
        shutil.rmtree(folder, ignore_errors=True)
    if len(out["sizes"]) >= 2:
        small, big = out["sizes"][0], out["sizes"][-1]
        out["growth"] = {m: round(big[m]["rss_mb"] / small[m]["rss_mb"], 3) for m in MODES}
    return out


def log(msg: str) -> None:
    print(f"[serving_rss {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--write"]:
        print(json.dumps(write_child(Path(argv[1]), int(argv[2]), argv[3], Path(argv[4])), ensure_ascii=False))
        return 0
    if argv[:1] == ["--serve"]:
        p = json.loads(sys.stdin.read())
        print(json.dumps(serve_child(argv[1], argv[2], Path(argv[3]), p["queries"], p["model"], p["dim"])))
        return 0
    ap = argparse.ArgumentParser(prog="python -m indexer.tools.bench.serving_rss", description=__doc__.split("\n")[0])
    ap.add_argument("--index", type=Path, default=DATA_DIR / "index-eval" / "policy", help="real chunks to scale")
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 100_000])
    ap.add_argument("--work", type=Path, default=DATA_DIR / "bench" / "serving-rss-work")
    ap.add_argument("--out", type=Path, default=DATA_DIR / "bench" / "serving_rss.json")
    args = ap.parse_args(argv)
    results = run(args.index, args.sizes, args.work)
    report(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
