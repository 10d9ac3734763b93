"""The 88-document policy index (seeds + data/corpus, the eval suite's) and the real server on it.

For e2e tests that need a realistic size: the index is the one `make eval` builds under
data/index-eval/policy (built here once when missing, then reused), copied for each test module.
The server is `python -m search_app serve` in its own process, so its threads never share a GIL with
the test's clients.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from indexer.config import PROJECT_ROOT, Settings
from indexer.store import current_version_name
from tests.support.settings import test_settings


def policy_index(dest: Path, model_dir: Path, **overrides) -> Settings:
    """Settings whose index_dir (under `dest`) holds a copy of the policy eval index."""
    from indexer.tools.eval.suites import SUITES, build_suite, model_change

    suite = SUITES["policy"]
    suite.index_dir.parent.mkdir(parents=True, exist_ok=True)
    settings = test_settings(model=str(model_dir))
    with open(suite.index_dir.parent / ".policy-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # make test runs files in parallel: one worker builds, the others wait
        if current_version_name(suite.index_dir) is None or model_change(suite.index_dir, settings):
            build_suite(suite, settings, progress=False)
    shutil.copytree(suite.index_dir, dest / "index", ignore=shutil.ignore_patterns(".lock"))
    return test_settings(index_dir=dest / "index", model=str(model_dir), **overrides)


@contextmanager
def server_process(settings: Settings, log: Path, env: dict | None = None, ready_s: float = 600.0):
    """`python -m search_app serve` on a free loopback port; yields the base URL once it is ready (warmed up)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLICY_SEARCH_")}
    environ.update(env or {})
    cmd = [sys.executable, "-m", "search_app", "serve", "--index", str(settings.index_dir), "--model",
           settings.model, "--host", "127.0.0.1", "--port", "0"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, env=environ)
    try:
        base = _wait_ready(proc, log, ready_s)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_ready(proc: subprocess.Popen, log: Path, ready_s: float) -> str:
    deadline, base = time.monotonic() + ready_s, None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if base is None:
            m = re.search(r"Policy search: (http://[\d.]+:\d+)/", log.read_text(errors="replace"))
            base = m.group(1) if m else None
        if base is not None:
            try:  # ready: the warm-up is over (/api/health 200, not 503 starting) and the model answers
                with urllib.request.urlopen(f"{base}/api/health", timeout=60) as r:
                    healthy = r.status == 200
                with urllib.request.urlopen(f"{base}/api/search?q=%E9%A2%84%E7%83%AD&k=1", timeout=60) as r:
                    if healthy and r.status == 200:
                        return base
            except OSError:  # HTTPError (503 while starting) included
                pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready in {ready_s:g} s: {log.read_text(errors='replace')[-2000:]}")
