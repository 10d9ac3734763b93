"""Users, roles, collections, API tokens and sign-in sessions, in one small SQLite file.

The file lives under the index folder (`<index_dir>/accounts.sqlite`, `POLICY_SEARCH_ACCOUNTS_DB`). Passwords
are hashed with argon2id (argon2-cffi); API tokens and session ids are random and only their SHA-256 is kept,
so the file alone signs nobody in. A fresh file marks the collections of `POLICY_SEARCH_PUBLIC_COLLECTIONS`
public; from then on the admin page decides. Roles are per collection: reader < editor < admin, `*` meaning
every collection (an admin of `*` runs the admin page).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from werkzeug.exceptions import Unauthorized

from indexer.config import Settings
from indexer.metadata import check_collection_name
from search_app.identity import ALL, ROLES, Principal

SCOPES = ("read", "write", "admin")  # an API token's: search/read, upload/remove as editor, admin API
TOKEN_PREFIX = "pst_"
USER_MAX_CHARS = 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password TEXT, created REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS roles (
    user TEXT NOT NULL, collection TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (user, collection));
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY, public INTEGER NOT NULL DEFAULT 0, read_only INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, user TEXT NOT NULL, digest TEXT NOT NULL, scopes TEXT NOT NULL, label TEXT NOT NULL,
    created REAL NOT NULL, last_used REAL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);
"""


class AccountError(ValueError):
    """A bad account change (unknown user, bad role, weak password ...); the message says which."""


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    expires: float


@dataclass(frozen=True)
class Collection:
    name: str
    public: bool
    read_only: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class AccountStore:
    """The accounts file; safe to share between a server's threads (one connection per call)."""

    def __init__(
        self, path: Path, public: tuple[str, ...] = (), session_hours: int = 12, hasher: PasswordHasher | None = None
    ):
        self.path = Path(path)
        self.session_seconds = session_hours * 3600
        self._hasher = hasher or PasswordHasher()  # argon2id
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as con:
            con.executescript(_SCHEMA)
            if not con.execute("SELECT 1 FROM collections LIMIT 1").fetchone():
                con.executemany("INSERT OR IGNORE INTO collections VALUES (?, 1, 0)", [(c,) for c in public])

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountStore:
        path = settings.accounts_db or settings.index_dir / "accounts.sqlite"
        public = tuple(c.strip() for c in settings.public_collections.split(",") if c.strip())
        hasher = PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)
        return cls(path, public, settings.session_hours, hasher)

    @property
    def _dummy(self) -> str:
        """A hash to check unknown users against, so they cost the same work as a real check."""
        if self._dummy_hash is None:
            with self._lock:
                self._dummy_hash = self._dummy_hash or self._hasher.hash(secrets.token_hex(8))
        return self._dummy_hash

    def _db(self) -> _Closing:
        con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 10000")
        return _Closing(con)

    # -- users and passwords

    def add_user(self, name: str, password: str | None = None) -> None:
        name = check_user_name(name)
        digest = self._hash(password) if password is not None else None
        with self._db() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"user {name!r} exists already")
            con.execute("INSERT INTO users VALUES (?, ?, ?, 0)", (name, digest, time.time()))

    def _hash(self, password: str) -> str:
        if not isinstance(password, str) or len(password) < 8:
            raise AccountError("a password needs at least 8 characters")
        if len(password) > 1024:
            raise AccountError("a password is at most 1024 characters")
        return self._hasher.hash(password)

    def set_password(self, name: str, password: str) -> None:
        digest = self._hash(password)
        with self._db() as con:
            if con.execute("UPDATE users SET password = ? WHERE name = ?", (digest, name)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            con.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def set_disabled(self, name: str, disabled: bool) -> None:
        with self._db() as con:
            if con.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            if disabled:
                con.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def delete_user(self, name: str) -> None:
        with self._db() as con:
            if con.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError(f"no user {name!r}")
            for table in ("roles", "sessions", "tokens"):
                con.execute(f"DELETE FROM {table} WHERE user = ?", (name,))

    def check_password(self, name: str, password: str) -> bool:
        """True for an enabled user with this password; unknown users cost the same argon2 check."""
        with self._db() as con:
            row = con.execute("SELECT password, disabled FROM users WHERE name = ?", (name,)).fetchone()
        stored = row[0] if row and row[0] else self._dummy
        try:
            ok = self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if ok and row and self._hasher.check_needs_rehash(stored):
            self.set_password(name, password)
        return bool(ok and row and row[0] and not row[1])

    def password_hash(self, name: str) -> str | None:
        with self._db() as con:
            row = con.execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def users(self) -> list[dict]:
        with self._db() as con:
            users = con.execute("SELECT name, created, disabled, password IS NOT NULL FROM users ORDER BY name")
            out = [{"name": n, "created": c, "disabled": bool(d), "has_password": bool(p)} for n, c, d, p in users]
        for u in out:
            u["roles"] = self.roles(u["name"])
        return out

    def user_exists(self, name: str) -> bool:
        with self._db() as con:
            return con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is not None

    # -- roles

    def roles(self, name: str) -> dict[str, str]:
        with self._db() as con:
            return dict(con.execute("SELECT collection, role FROM roles WHERE user = ? ORDER BY collection", (name,)))

    def grant(self, name: str, collection: str, role: str) -> None:
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if collection != ALL:
            try:
                collection = check_collection_name(collection)
            except ValueError as exc:
                raise AccountError(str(exc)) from exc
        if not self.user_exists(name):
            raise AccountError(f"no user {name!r}")
        with self._db() as con:
            con.execute("INSERT OR REPLACE INTO roles VALUES (?, ?, ?)", (name, collection, role))

    def revoke(self, name: str, collection: str) -> None:
        with self._db() as con:
            if con.execute("DELETE FROM roles WHERE user = ? AND collection = ?", (name, collection)).rowcount == 0:
                raise AccountError(f"{name!r} has no role in {collection!r}")

    def has_admin(self) -> bool:
        with self._db() as con:
            return (
                con.execute("SELECT 1 FROM roles WHERE collection = ? AND role = 'admin'", (ALL,)).fetchone()
                is not None
            )

    # -- collections

    def collections(self) -> list[Collection]:
        with self._db() as con:
            rows = con.execute("SELECT name, public, read_only FROM collections ORDER BY name").fetchall()
        return [Collection(n, bool(p), bool(r)) for n, p, r in rows]

    def set_collection(self, name: str, public: bool, read_only: bool) -> None:
        try:
            name = check_collection_name(name)
        except ValueError as exc:
            raise AccountError(str(exc)) from exc
        with self._db() as con:
            con.execute("INSERT OR REPLACE INTO collections VALUES (?, ?, ?)", (name, int(public), int(read_only)))

    def public_collections(self) -> frozenset[str]:
        return frozenset(c.name for c in self.collections() if c.public)

    def read_only_collections(self) -> frozenset[str]:
        return frozenset(c.name for c in self.collections() if c.read_only)

    # -- API tokens

    def create_token(self, name: str, scopes: list[str], label: str = "") -> tuple[str, str]:
        """A new token for `name`: (id, the secret to hand out once). Only its SHA-256 is kept."""
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise AccountError(f"token scopes must be some of {', '.join(SCOPES)}, not {bad or scopes!r}")
        if not self.user_exists(name):
            raise AccountError(f"no user {name!r}")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        with self._db() as con:
            con.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL, 0)",
                (token_id, name, _digest(secret), " ".join(sorted(set(scopes))), label[:80], time.time()),
            )
        return token_id, f"{TOKEN_PREFIX}{token_id}_{secret}"

    def revoke_token(self, token_id: str) -> None:
        with self._db() as con:
            if con.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,)).rowcount == 0:
                raise AccountError(f"no token {token_id!r}")

    def tokens(self) -> list[dict]:
        with self._db() as con:
            rows = con.execute(
                "SELECT id, user, scopes, label, created, last_used, revoked FROM tokens ORDER BY created"
            ).fetchall()
        keys = ("id", "user", "scopes", "label", "created", "last_used", "revoked")
        return [dict(zip(keys, r)) for r in rows]

    def token_principal(self, token: str) -> Principal | None:
        """The principal of a `pst_<id>_<secret>` token; None when unknown, revoked or its user is disabled."""
        token_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
        if not token.startswith(TOKEN_PREFIX) or not secret:
            return None
        with self._db() as con:
            row = con.execute(
                "SELECT t.user, t.digest, t.scopes, t.revoked, u.disabled FROM tokens t JOIN users u "
                "ON u.name = t.user WHERE t.id = ?",
                (token_id,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[1], _digest(secret)) or row[3] or row[4]:
                return None
            con.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (time.time(), token_id))
        return Principal(name=row[0], via="token", roles=self.roles(row[0]), scopes=frozenset(row[2].split()))

    # -- sessions

    def start_session(self, name: str) -> tuple[str, Session]:
        """A new session for a signed-in user: (the cookie value, the session)."""
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        with self._db() as con:
            con.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_digest(cookie), name, csrf, now, now + self.session_seconds),
            )
        return cookie, Session(name, csrf, now + self.session_seconds)

    def session(self, cookie: str) -> Session | None:
        if not cookie or len(cookie) > 200:
            return None
        with self._db() as con:
            row = con.execute(
                "SELECT s.user, s.csrf, s.expires, u.disabled FROM sessions s JOIN users u ON u.name = s.user "
                "WHERE s.digest = ?",
                (_digest(cookie),),
            ).fetchone()
        if row is None or row[2] < time.time() or row[3]:
            return None
        return Session(row[0], row[1], row[2])

    def end_session(self, cookie: str) -> None:
        with self._db() as con:
            con.execute("DELETE FROM sessions WHERE digest = ?", (_digest(cookie),))


class _Closing:
    """sqlite3.Connection as a context manager that also closes it (autocommit mode)."""

    def __init__(self, con: sqlite3.Connection):
        self.con = con

    def __enter__(self) -> sqlite3.Connection:
        return self.con

    def __exit__(self, *exc) -> None:
        self.con.close()


def check_user_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > USER_MAX_CHARS or any(ch.isspace() or ord(ch) < 32 for ch in name) or name == ALL:
        raise AccountError(f"a user name is 1 to {USER_MAX_CHARS} characters without spaces")
    return name


# ---------------------------------------------------------------- per app


EXTENSION_KEY = "policy_search_accounts"


def current_store() -> AccountStore | None:
    """The app's accounts store (None outside an app)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return None
    return current_app.extensions.get(EXTENSION_KEY)


def identify(store: AccountStore, bearer: str) -> Principal | None:
    """A bearer token's principal (401 when it is not a valid one); None: no token, look further."""
    if not bearer:
        return None
    principal = store.token_principal(bearer)
    if principal is None:
        raise Unauthorized(description="wrong admin token, or an unknown or revoked API token")
    return principal
