"""Sign-in and sign-out pages, session cookies and CSRF tokens.

Session cookie `ps_session`: random, HttpOnly, SameSite=Lax, Secure when the request came over TLS (directly,
or through a trusted proxy saying `X-Forwarded-Proto: https`; `POLICY_SEARCH_COOKIE_SECURE=always|never`
overrides). Only its SHA-256 is stored (search_app.accounts).

CSRF: every unsafe request that rides on an ambient credential (a session cookie or a proxy's identity header),
and every form POST to a page, must carry the token: the form field `csrf_token` or the header `X-CSRF-Token`.
A signed-in user's token belongs to the session; before sign-in it is the double-submit cookie `ps_csrf`
(HttpOnly, SameSite=Strict). Requests with a bearer token carry no ambient credential and need none.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, redirect, render_template, request, url_for

from search_app import audit
from search_app.accounts import current_store
from search_app.identity import SESSION_COOKIE, _from_trusted_proxy, bearer_token, current_principal, proxy_user
from search_app.state import current_settings

bp = Blueprint("signin", __name__)

CSRF_COOKIE = "ps_csrf"
CSRF_FIELD = "csrf_token"
_UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def cookie_secure() -> bool:
    mode = current_settings().cookie_secure.strip().lower()
    if mode in ("always", "1", "true", "yes"):
        return True
    if mode in ("never", "0", "false", "no"):
        return False
    forwarded = request.headers.get("X-Forwarded-Proto", "").lower() == "https" and _from_trusted_proxy()
    return request.is_secure or forwarded


def csrf_token() -> str:
    """The token forms of this request must send back (the session's, else the double-submit cookie's)."""
    current_principal()  # finds the session, if any
    session = g.get("session")
    if session is not None:
        return session.csrf
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) < 32 or len(token) > 100:
        token = g.get("new_csrf") or secrets.token_urlsafe(32)
        g.new_csrf = token
    return token


def _given_csrf() -> str:
    header = request.headers.get("X-CSRF-Token", "")
    if header or request.path.startswith("/api/"):  # API bodies are not parsed here (upload size limits)
        return header
    return request.form.get(CSRF_FIELD, "") if request.mimetype in _FORM_TYPES else ""


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def check_csrf() -> None:
    """before_request: refuse an unsafe request that needs a CSRF token and lacks the right one (403)."""
    if request.method not in _UNSAFE or bearer_token():
        return
    ambient = bool(request.cookies.get(SESSION_COOKIE)) or proxy_user() is not None
    if request.path.startswith("/api/") and not ambient:
        return  # an anonymous script: no credential to abuse
    expected, given = csrf_token(), _given_csrf()
    if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        audit.record("csrf_refused", path=request.path, method=request.method)
        abort(403, description="missing or wrong CSRF token: reload the page and send the form again")


def _set_cookies(response):
    """after_request: hand out the double-submit cookie a rendered form relies on; keep answers that depend
    on who asked out of shared caches (a proxy must never serve one reader's results to another)."""
    response.vary.update(("Cookie", "Authorization"))
    principal = g.get("principal")
    if principal is not None and not principal.anonymous:
        response.headers["Cache-Control"] = "private, no-store"
    token = g.get("new_csrf")
    if token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=cookie_secure(), path="/", max_age=86400
        )
    return response


def _safe_next(raw: str | None) -> str:
    """Only a path on this site (no scheme, no host, no `//`): an open redirect is a phishing aid."""
    raw = raw or ""
    parts = urlsplit(raw)
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw or parts.scheme or parts.netloc:
        return url_for("pages.search")
    return raw


class Throttle:
    """Failed sign-ins per user name and per address in a sliding window: password guessing gets slow.

    Counted for any name, known or not, so the answer never tells which names exist.
    """

    def __init__(self):
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, window: float, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < window]
        self._failures[key] = times
        return times

    def blocked(self, keys: list[str], limit: int, window: float) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, window, now)) >= limit for k in keys)

    def failed(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._failures.setdefault(k, []).append(now)
            if len(self._failures) > 10000:  # forget the oldest keys rather than grow without bound
                for k in list(self._failures)[:5000]:
                    del self._failures[k]


THROTTLE_KEY = "policy_search_signin_throttle"


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("signin.html", next=nxt, error=None, name="")
    store, settings = current_store(), current_settings()
    name = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    keys = [f"user:{name.lower()}", f"ip:{request.remote_addr}"]
    throttle: Throttle = current_app.extensions[THROTTLE_KEY]
    if throttle.blocked(keys, settings.signin_max_failures, settings.signin_window_s):
        audit.record("signin_throttled", attempted=name)
        error = f"登录失败次数过多，请 {settings.signin_window_s // 60} 分钟后再试。"
        return render_template("signin.html", next=nxt, error=error, name=name), 429
    if store is None or not name or not store.check_password(name, password):
        throttle.failed(keys)
        audit.record("signin_failed", attempted=name)
        return render_template("signin.html", next=nxt, error="用户名或密码错误。", name=name), 401
    cookie, session = store.start_session(name)
    g.session = session  # forms rendered from here on use the session's CSRF token
    g.pop("principal", None)
    audit.record("signin", as_user=(name, "session"))
    response = redirect(nxt, code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(),
        path="/",
        max_age=store.session_seconds,
    )
    return response


@bp.post("/signout")
def signout():
    store = current_store()
    who = current_principal()
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if store is not None and cookie:
        store.end_session(cookie)
    if not who.anonymous:
        audit.record("signout")
    response = redirect(url_for("pages.search"), code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=cookie_secure())
    return response


def register(app: Flask) -> None:
    app.extensions[THROTTLE_KEY] = Throttle()
    app.register_blueprint(bp)
    app.before_request(check_csrf)
    app.after_request(_set_cookies)

    @app.context_processor
    def _identity():
        return {"csrf_token": csrf_token, "current_user": current_principal}
