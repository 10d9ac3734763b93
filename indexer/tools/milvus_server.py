"""Start and stop a real Milvus standalone server (the `milvus` wheel's `milvus-server`, 2.3.5): the tests'
session fixture and the incremental-write bench use it.

The server listens on a free proxy port (the Milvus URI) with its own data folder; its other gRPC ports are
free ports too. The wheel's embedded etcd would listen on the fixed 2379/2380 (so only one server could run per
machine, and a leftover one blocks the next): an etcd config file with free client and peer ports, named by
the ETCD_CONFIG_PATH environment variable (Milvus reads `etcd.config.path` from it), moves it, so a bench and a
test session can each run a server. The metrics port is the first free one from 9091 (the wheel's choice).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PORT_FLAGS = ("--root-coord-port", "--proxy-internal-port", "--query-coord-port", "--query-node-port",
              "--index-coord-port", "--index-node-port", "--data-coord-port", "--data-node-port")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable() -> Path | None:
    exe = Path(sys.executable).parent / "milvus-server"
    return exe if exe.exists() else None


@dataclass
class MilvusServer:
    proc: subprocess.Popen
    uri: str
    log: Path

    def stop(self, grace: float = 60) -> None:
        """SIGTERM to the server's process group, then SIGKILL to whatever of it is left after `grace` seconds.

        The wrapper can exit while its `milvus run standalone` child is still shutting down; a child left running
        keeps the fixed etcd and metrics ports, and the next test session's server cannot start. A server whose
        data is thrown away (tests, bench) need not wait: one that had served a test session was still shutting
        down after 60 s, while an idle one is gone in 2 s."""
        _signal_group(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.proc.poll()  # reap the wrapper: a zombie still counts as a member of the group
            if not _group_alive(self.proc.pid):
                break
            time.sleep(0.5)
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def start(data_dir: Path, timeout: float = 180, log: Path | None = None) -> MilvusServer:
    """Start milvus-server and wait until a client can list collections (RuntimeError with the log if not).

    The log goes to `log` (default: server.log in the data folder; a bench weighing the data folder puts it
    elsewhere)."""
    exe = executable()
    if exe is None:
        raise FileNotFoundError("milvus-server is not installed: pip install milvus==2.3.5")
    port = free_port()
    argv = [str(exe), "--data", str(data_dir), "--proxy-port", str(port)]
    for flag in PORT_FLAGS:
        argv += [flag, str(free_port())]
    data_dir.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port = free_port(), free_port()
    argv += ["--etcd-port", str(etcd_port)]
    etcd_config = data_dir / "embedEtcd.yaml"
    etcd_config.write_text(
        f"name: default\nlisten-client-urls: http://127.0.0.1:{etcd_port}\n"
        f"advertise-client-urls: http://127.0.0.1:{etcd_port}\nlisten-peer-urls: http://127.0.0.1:{peer_port}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{peer_port}\n"
        f"initial-cluster: default=http://127.0.0.1:{peer_port}\n",
        encoding="utf-8",
    )
    log = log or data_dir / "server.log"
    env = {**os.environ, "ETCD_CONFIG_PATH": str(etcd_config)}
    proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True, env=env)
    server = MilvusServer(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"milvus-server exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")
        if _ready(server.uri):
            return server
        time.sleep(1)
    server.stop()
    raise RuntimeError(f"milvus-server did not answer within {timeout:.0f}s: {log.read_text(errors='replace')[-2000:]}")


def _ready(uri: str) -> bool:
    from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=5)
        client.list_collections()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - not up yet
        return False
