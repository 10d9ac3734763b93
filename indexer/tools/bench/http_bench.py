"""The search server over loopback: start-up time, RSS, and latency and throughput with concurrent
keep-alive clients (a real process, or a thread in the tests)."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from indexer.config import PROJECT_ROOT, Settings
from indexer.tools.bench.measure import load_avg, percentiles, rss_mb
from indexer.tools.bench.options import MODES, BenchConfig


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(conn: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read()


def _search_path(q: str, mode: str) -> str:
    return "/api/search?" + urllib.parse.urlencode({"q": q, "mode": mode, "k": 10})


class _ServerProcess:
    """`python -m search_app serve` as a child process; start-up timed to health and to a first answer."""

    def __init__(self, settings: Settings, embedder, first_query: str, timeout: float = 600.0):
        self.port = _free_port()
        env = dict(os.environ)
        env.update({
            "POLICY_SEARCH_MODEL": str(settings.model),
            "POLICY_SEARCH_DTYPE": getattr(embedder, "dtype", settings.dtype),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "POLICY_SEARCH_QUERY_CACHE_SIZE": "0",  # every request embeds its query: uncached figures
        })
        cmd = [sys.executable, "-m", "search_app", "serve", "--index", str(settings.index_dir), "--host", "127.0.0.1",
               "--port", str(self.port)]
        self.log_path = Path(settings.index_dir).parent / f"server-{self.port}.log"
        self.log = open(self.log_path, "w", encoding="utf-8")  # a pipe nobody reads could block the server
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self.log)
        self.health_s = self.first_query_s = None
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{self.log_path.read_text(encoding='utf-8', errors='replace')[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
                status, _ = _get(conn, "/api/health")
                if status == 200:
                    self.health_s = time.perf_counter() - t0
                    status, _ = _get(conn, _search_path(first_query, "hybrid"))
                    if status != 200:
                        raise RuntimeError(f"first query answered {status}")
                    self.first_query_s = time.perf_counter() - t0
                    conn.close()
                    break
                conn.close()
            except (ConnectionError, OSError):
                pass
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError("server did not answer in time")

    def rss(self) -> dict:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.log_path.unlink(missing_ok=True)


class _ServerThread:
    """The same app under waitress in this process (tests; no start-up figure)."""

    def __init__(self, settings: Settings, engine):
        from search_app import create_app
        from search_app.serving import make_server

        self.server = make_server(create_app(settings, engine=engine), "127.0.0.1", 0, settings.threads)
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.health_s = self.first_query_s = None

    def rss(self) -> dict:
        return rss_mb()

    def stop(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


def http_load(port: int, queries: Sequence[str], mode: str, clients: int, per_client: int) -> dict:
    """`clients` threads, each on one keep-alive connection, sending `per_client` queries (cycling the list)."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = [queries[(i * per_client + j) % len(queries)] for j in range(per_client)]
        for q in mine:
            t0 = time.perf_counter()
            try:
                status, _ = _get(conn, _search_path(q, mode))
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(str(exc))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                (lat.append(ms) if status == 200 else errors.append(f"HTTP {status}"))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {**percentiles(lat), "qps": len(lat) / wall if wall else 0.0, "errors": len(errors),
            "first_errors": errors[:3]}


def bench_http(cfg: BenchConfig, settings: Settings, engine, embedder, queries: list[str]) -> dict:
    try:
        if cfg.http == "process":
            server = _ServerProcess(settings, embedder, first_query=queries[-1])
        else:
            server = _ServerThread(settings, engine)
    except Exception as exc:  # noqa: BLE001 - reported in the results
        return {"error": f"{type(exc).__name__}: {exc}"}
    out = {"mode": cfg.http, "clients": cfg.http_clients, "requests_per_client": cfg.http_requests,
           "startup": {"health_s": server.health_s, "first_query_s": server.first_query_s},
           "rss_after_start": server.rss(), "modes": {}}
    try:
        time.sleep(2.0 if cfg.http == "process" else 0.0)  # let the server's warm-up thread finish
        out["load"] = [load_avg()]
        for mode in MODES:
            out["modes"][mode] = http_load(server.port, queries, mode, cfg.http_clients, cfg.http_requests)
        # One client in sequence: the cost of HTTP + JSON on top of the in-process figure, without queueing.
        n_one = min(len(queries), cfg.queries_per_mode)
        out["modes"]["hybrid_1client"] = http_load(server.port, queries, "hybrid", 1, n_one)
        out["load"].append(load_avg())
        out["rss_after_load"] = server.rss()
    finally:
        server.stop()
    return out
