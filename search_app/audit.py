"""The audit log: who signed in, searched, viewed, exported or changed what, and when.

Append-only JSON lines under `<index_dir>/audit/` (`POLICY_SEARCH_AUDIT_DIR`): `audit.log` is written, and
past `audit_max_bytes` it becomes `audit.log.1` (the older ones shift up, at most `audit_keep` are kept).
One line per event::

    {"time": "2026-11-30T09:41:07.123Z", "user": "li", "via": "session", "ip": "10.0.0.5",
     "action": "search", "query": "值班安排", "collections": ["办公室"], "results": 7, ...}

Passwords and tokens never reach it: callers pass only the fields below, and any field whose name says
password, token, secret, cookie or csrf is dropped before writing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from indexer.config import Settings

_SECRET_WORDS = ("password", "token", "secret", "cookie", "csrf", "authorization")


class AuditLog:
    def __init__(self, folder: Path, max_bytes: int = 5_000_000, keep: int = 20):
        self.folder = Path(folder)
        self.path = self.folder / "audit.log"
        self.max_bytes = max(1024, max_bytes)
        self.keep = max(1, keep)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditLog:
        return cls(settings.audit_dir or settings.index_dir / "audit", settings.audit_max_bytes, settings.audit_keep)

    def write(self, action: str, user: str = "", **fields) -> dict:
        """Append one event (time and action first); returns what was written."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        event = {"time": stamp, "user": user or "-", "action": action}
        event.update({k: v for k, v in fields.items() if not any(w in k.lower() for w in _SECRET_WORDS)})
        line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return event

    def _rotate(self) -> None:
        """audit.log -> audit.log.1 -> audit.log.2 ...; the oldest beyond `keep` is dropped."""
        oldest = self.folder / f"audit.log.{self.keep}"
        oldest.unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            older = self.folder / f"audit.log.{n}"
            if older.exists():
                os.replace(older, self.folder / f"audit.log.{n + 1}")
        os.replace(self.path, self.folder / "audit.log.1")

    def files(self) -> list[Path]:
        """Every audit file, oldest first."""
        rotated = sorted(
            (p for p in self.folder.glob("audit.log.*") if p.suffix[1:].isdigit()),
            key=lambda p: -int(p.suffix[1:]),
        )
        return [*rotated, *([self.path] if self.path.exists() else [])]

    def events(self) -> Iterator[dict]:
        """Every event, oldest first (a damaged line is skipped, not fatal)."""
        for path in self.files():
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue

    def tail(self, n: int = 200, action: str = "", user: str = "") -> list[dict]:
        """The last n events, newest first, optionally of one action or user."""
        out: list[dict] = []
        for event in self.events():
            if (not action or event.get("action") == action) and (not user or event.get("user") == user):
                out.append(event)
                if len(out) > n:
                    out.pop(0)
        return out[::-1]


EXTENSION_KEY = "policy_search_audit"


def record(action: str, as_user: tuple[str, str] | None = None, **fields) -> None:
    """Audit an event of the current request: who (user, how signed in, address) is added here.

    `as_user` = (name, via) names the actor when the request's own principal is not it yet (a sign-in).
    """
    from flask import current_app, has_request_context, request
    from werkzeug.exceptions import HTTPException

    from search_app.identity import current_principal

    log: AuditLog | None = current_app.extensions.get(EXTENSION_KEY)
    if log is None:
        return
    if as_user is None:
        try:
            who = current_principal()
            as_user = (who.name, who.via)
        except HTTPException:  # a request with a bad credential is audited as what it was
            as_user = ("", "bad-credentials")
    extra = {"via": as_user[1], "ip": request.remote_addr} if has_request_context() else {"via": as_user[1]}
    log.write(action, as_user[0], **extra, **fields)


def current_log() -> AuditLog | None:
    from flask import current_app

    return current_app.extensions.get(EXTENSION_KEY)
