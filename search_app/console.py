"""The admin page (/admin): users, roles, collections, API tokens and the audit log; every change audited.

Only admins (of `*`) get in: anonymous visitors are sent to sign in, others get 403. Every change is a form
POST with the CSRF token (search_app.signin) and lands in the audit log as `admin.<action>` with its target
(never a password or a token). A new API token is shown once, on the page that created it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from flask import Blueprint, Flask, Response, abort, redirect, render_template, request, url_for

from indexer.errors import SearchEngineError
from search_app import audit
from search_app.accounts import SCOPES, AccountError, AccountStore, current_store
from search_app.auth import require_admin
from search_app.identity import ALL, ROLES, current_principal
from search_app.state import holder

bp = Blueprint("console", __name__)


@bp.before_request
def _guard():
    if current_principal().anonymous and request.method == "GET":
        return redirect(url_for("signin.signin", next=request.full_path))
    require_admin()
    return None


def _store() -> AccountStore:
    store = current_store()
    if store is None:
        abort(503, description="no accounts store")
    return store


def _index_collections() -> list[str]:
    try:
        return holder().get().collections()
    except SearchEngineError:
        return []


def _page(status: int = 200, **extra):
    store = _store()
    action, user = request.args.get("action", ""), request.args.get("user", "")
    log: audit.AuditLog = audit.current_log()
    known = sorted({c.name for c in store.collections()} | set(_index_collections()))
    body = render_template(
        "admin.html",
        users=store.users(),
        collections=store.collections(),
        known_collections=known,
        unconfigured=[c for c in known if c not in {x.name for x in store.collections()}],
        tokens=store.tokens(),
        roles=ROLES,
        scopes=SCOPES,
        all_collections=ALL,
        events=log.tail(100, action=action, user=user) if log else [],
        audit_action=action,
        audit_user=user,
        done=request.args.get("done", ""),
        fmt_time=lambda t: time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else "—",
        **{"error": None, "new_token": None, **extra},
    )
    return body, status


@bp.get("/")
def index():
    return _page()


# ---------------------------------------------------------------- changes


def _flag(name: str) -> bool:
    return request.form.get(name) in ("1", "on", "true")


def _add_user(store: AccountStore, f) -> dict:
    store.add_user(f.get("name", ""), f.get("password") or None)
    if f.get("collection") and f.get("role"):
        store.grant(f["name"].strip(), f["collection"].strip(), f["role"])
    return {"target": f.get("name", "").strip(), "collection": f.get("collection"), "role": f.get("role")}


def _set_password(store: AccountStore, f) -> dict:
    store.set_password(f.get("name", ""), f.get("password", ""))
    return {"target": f.get("name")}


def _disable(store: AccountStore, f) -> dict:
    name, disabled = f.get("name", ""), _flag("disabled")
    if disabled and name == current_principal().name:
        raise AccountError("you cannot disable yourself")
    store.set_disabled(name, disabled)
    return {"target": name, "disabled": disabled}


def _delete_user(store: AccountStore, f) -> dict:
    name = f.get("name", "")
    if name == current_principal().name:
        raise AccountError("you cannot delete yourself")
    store.delete_user(name)
    return {"target": name}


def _grant(store: AccountStore, f) -> dict:
    store.grant(f.get("name", ""), f.get("collection", "").strip(), f.get("role", ""))
    return {"target": f.get("name"), "collection": f.get("collection"), "role": f.get("role")}


def _revoke(store: AccountStore, f) -> dict:
    store.revoke(f.get("name", ""), f.get("collection", ""))
    return {"target": f.get("name"), "collection": f.get("collection")}


def _set_collection(store: AccountStore, f) -> dict:
    store.set_collection(f.get("collection", ""), _flag("public"), _flag("read_only"))
    return {"collection": f.get("collection"), "public": _flag("public"), "read_only": _flag("read_only")}


def _revoke_token(store: AccountStore, f) -> dict:
    store.revoke_token(f.get("id", ""))
    return {"token_id": f.get("id")}


ACTIONS: dict[str, tuple[Callable, str]] = {
    "add-user": (_add_user, "已添加用户"),
    "set-password": (_set_password, "已修改密码"),
    "disable": (_disable, "已更新用户状态"),
    "delete-user": (_delete_user, "已删除用户"),
    "grant": (_grant, "已授予角色"),
    "revoke": (_revoke, "已撤销角色"),
    "collection": (_set_collection, "已更新文件集"),
    "revoke-token": (_revoke_token, "已吊销令牌"),
}


@bp.post("/<action>")
def change(action: str):
    """One change from a form; audited as `admin.<action>` whether it succeeds or not."""
    store = _store()
    if action == "create-token":
        return _create_token(store)
    if action not in ACTIONS:
        abort(404)
    handler, message = ACTIONS[action]
    try:
        details = handler(store, request.form)
    except AccountError as exc:
        audit.record(f"admin.{action}", ok=False, reason=str(exc), target=request.form.get("name"))
        return _page(400, error=str(exc))
    audit.record(f"admin.{action}", ok=True, **details)
    return redirect(url_for("console.index", done=message), code=303)


def _create_token(store: AccountStore):
    f = request.form
    scopes = [s for s in SCOPES if f.get(f"scope_{s}")]
    try:
        token_id, secret = store.create_token(f.get("name", ""), scopes, f.get("label", ""))
    except AccountError as exc:
        audit.record("admin.create-token", ok=False, reason=str(exc), target=f.get("name"))
        return _page(400, error=str(exc))
    audit.record("admin.create-token", ok=True, target=f.get("name"), token_id=token_id, scopes=scopes)
    return _page(200, new_token=secret)


@bp.get("/audit.jsonl")
def export_audit():
    """The whole audit log (every rotated file, oldest first) as JSON lines; the export itself is audited."""
    log = audit.current_log()
    audit.record("admin.export-audit")

    def lines():
        for event in log.events() if log else []:
            yield json.dumps(event, ensure_ascii=False) + "\n"

    return Response(
        lines(),
        mimetype="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"', "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- the admin API's changes, audited too


def _audit_admin_api(response):
    """after_request: uploads, removals, re-indexing and reloads by the admin API are admin actions."""
    endpoint = request.endpoint or ""
    if endpoint.startswith("admin.") or endpoint == "api.reload":
        doc = (request.view_args or {}).get("doc_id")
        audit.record(f"admin.api.{endpoint.rpartition('.')[2]}", status=response.status_code, doc_id=doc)
    return response


def register(app: Flask) -> None:
    app.register_blueprint(bp, url_prefix="/admin")
    app.after_request(_audit_admin_api)
