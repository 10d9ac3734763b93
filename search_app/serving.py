"""Production serving with waitress (pure Python, fine on Windows and small air-gapped machines).

Connection limits are explicit (README "Server limits"): waitress's defaults let 101 idle sockets lock
every user out (100 connections, idle ones kept 120 s, no limit on how slowly headers may arrive).
Here: `connection_limit` connections (1000), a connection silent for `channel_timeout_s` is closed,
and a request whose headers are not complete `header_timeout_s` after its first byte is dropped, so
clients trickling header bytes cannot hold connections either. waitress reads whole requests on its
I/O thread, so slow clients never occupy a worker thread.
"""

from __future__ import annotations

import time

from flask import Flask

from indexer.config import Settings
from search_app.state import EXTENSION_KEY


def _channel_class():
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        """An HTTP channel that remembers when the current request's first byte arrived."""

        head_started: float | None = None

        def received(self, data):
            if data and self.request is None and not self.requests:
                self.head_started = time.time()
            result = super().received(data)
            if self.request is None or self.request.headers_finished:
                self.head_started = None
            return result

    return DeadlineChannel


def _install_header_deadline(server, header_timeout: float) -> None:
    """On each listening server: channels that time their headers, and a clean-up that closes slow ones.

    waitress has no hook for this, so its (documented) `channel_class` and `maintenance` are set on the
    listening server objects it created.
    """
    from waitress.server import BaseWSGIServer

    channel = _channel_class()
    sockets = getattr(server, "map", None) or server._map  # MultiSocketServer.map / dispatcher._map
    listeners = [s for s in sockets.values() if isinstance(s, BaseWSGIServer)] or [server]
    for listener in listeners:
        idle_cleanup = listener.maintenance

        def maintenance(now, listener=listener, idle_cleanup=idle_cleanup):
            idle_cleanup(now)
            for ch in list(listener.active_channels.values()):
                started = getattr(ch, "head_started", None)
                if started is not None and now - started > header_timeout and not ch.requests:
                    ch.will_close = True

        listener.channel_class = channel
        listener.maintenance = maintenance


def server_options(settings: Settings) -> dict:
    """The waitress options behind the documented limits."""
    return {
        "connection_limit": settings.connection_limit,
        "channel_timeout": settings.channel_timeout_s,
        "cleanup_interval": max(1, min(settings.channel_timeout_s, settings.header_timeout_s) // 2),
        "max_request_header_size": settings.max_header_kb * 1024,
        "max_request_body_size": max(settings.max_upload_mb * 1024 * 1024, _batch_body_bytes(settings)),
        "asyncore_use_poll": True,  # select() stops at 1024 descriptors
        "backlog": 2048,
    }


def _batch_body_bytes(settings: Settings) -> int:
    """The largest legitimate batch body (same room as the app's MAX_CONTENT_LENGTH)."""
    return settings.max_batch_queries * (settings.max_query_chars * 4 + 8) + 65536


def _raise_fd_limit(wanted: int) -> None:
    """Each connection is a descriptor: lift the soft limit towards the hard one where it is lower."""
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def make_server(app: Flask, host: str, port: int, threads: int, settings: Settings | None = None):
    """Bind now (so a busy port fails before we print a URL); port 0 picks a free one."""
    import waitress

    settings = settings or app.extensions[EXTENSION_KEY].settings
    _raise_fd_limit(settings.connection_limit + 256)
    server = waitress.create_server(
        app, host=host, port=port, threads=threads, ident="policy-search", **server_options(settings)
    )
    _install_header_deadline(server, settings.header_timeout_s)
    return server


def listen_addresses(server) -> list[tuple[str, int]]:
    listen = getattr(server, "effective_listen", None)
    return list(listen) if listen else [(server.effective_host, server.effective_port)]


def browser_url(host: str, port: int) -> str:
    """A URL a person can open: a wildcard address is shown as the loopback one."""
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
