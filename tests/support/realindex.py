"""A small real index (the real embedding model) and a waitress server for slow end-to-end tests.

Built once per test process and copied for each module that wants one, so the load test and
the browser test share the (slow) embedding work but never each other's changes.
"""

from __future__ import annotations

import logging
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

from indexer.config import PROJECT_ROOT, Settings
from indexer.pipeline import build_index
from search_app.serving import make_server
from tests.support.corpus import CORPUS_DIR
from tests.support.settings import test_settings

RESOLUTIONS = CORPUS_DIR / "gov-work-reports"
INPUTS = [
    PROJECT_ROOT / "seeds",
    RESOLUTIONS / "第十三届全国人民代表大会第三次会议关于政府工作报告的决议.txt",
    RESOLUTIONS / "第十四届全国人民代表大会第二次会议关于政府工作报告的决议.txt",
]
EXTRA_DOC = RESOLUTIONS / "第十二届全国人民代表大会第四次会议关于政府工作报告的决议.txt"

_built: dict[str, Path] = {}


def real_index(dest: Path, model_dir: Path, **overrides) -> Settings:
    """Settings whose index_dir (under `dest`) holds a fresh copy of the shared real index."""
    key = str(model_dir)
    if key not in _built:
        master = dest.parent / f"real-index-master-{abs(hash(key)) % 10**8}"
        settings = test_settings(index_dir=master, model=str(model_dir))
        report = build_index(INPUTS, settings)
        assert len(report.added) == 3 and not report.errors, report.errors
        _built[key] = master
    shutil.copytree(_built[key], dest / "index")
    return test_settings(index_dir=dest / "index", model=str(model_dir), **overrides)


@contextmanager
def serve(app, threads: int = 8):
    """The app under waitress on a free loopback port; yields the base URL."""
    server = make_server(app, "127.0.0.1", 0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Close every socket from inside the server's own loop (via its trigger), so the loop never
        # selects on a closed descriptor; with an empty map, run() returns.
        def stop() -> None:
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.handle_close()
            server.close()

        logging.getLogger("waitress").setLevel(logging.CRITICAL)
        server.trigger.pull_trigger(stop)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
