"""Production serving with waitress (pure Python, fine on Windows and small air-gapped machines)."""

from __future__ import annotations

from flask import Flask


def make_server(app: Flask, host: str, port: int, threads: int):
    """Bind now (so a busy port fails before we print a URL); port 0 picks a free one."""
    import waitress

    return waitress.create_server(app, host=host, port=port, threads=threads, ident="policy-search")


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
