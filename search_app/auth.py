"""The admin check shared by every endpoint that changes the index or the server state.

An admin is any principal holding the admin role on every collection (search_app.identity): the admin
token of `POLICY_SEARCH_ADMIN_TOKEN` (as `Authorization: Bearer`), an admin user signed in, an admin's API
token with the `admin` scope, or an admin vouched for by a trusted proxy. With no admin token configured
and no admin user yet, the admin endpoints answer 403 (a deployment must opt in); otherwise a request
without credentials is 401 and one whose principal is not an admin is 403. Reading needs no admin.
"""

from __future__ import annotations

from flask import abort
from werkzeug.exceptions import Unauthorized

from search_app.accounts import current_store
from search_app.identity import bearer_token, current_principal, token_bytes  # noqa: F401 (re-exported)
from search_app.state import current_settings

HOW = "send it as 'Authorization: Bearer <token>' or 'X-Admin-Token: <token>'"


def given_token() -> str:
    return bearer_token()


def admin_enabled() -> bool:
    store = current_store()
    return bool(current_settings().admin_token) or (store is not None and store.has_admin())


def require_admin() -> None:
    """Abort with 403 when the admin API is off or the principal is no admin, 401 without credentials."""
    if not admin_enabled():
        abort(403, description="admin API disabled: set POLICY_SEARCH_ADMIN_TOKEN on the server to enable it")
    who = current_principal()  # a wrong token is a 401 here
    if who.is_admin:
        return
    if who.anonymous:
        raise Unauthorized(description=f"this needs the admin token or an admin's credentials; {HOW}")
    abort(403, description=f"{who.name} is not an admin")


def require_editor() -> None:
    """Like require_admin, but an editor of some collection passes too (uploads and removals are then
    limited to the collections they edit: search_app.editing)."""
    if not admin_enabled():
        abort(403, description="admin API disabled: set POLICY_SEARCH_ADMIN_TOKEN on the server to enable it")
    who = current_principal()
    editable = who.editable()
    if editable is None or editable:
        return
    if who.anonymous:
        raise Unauthorized(description=f"this needs the admin token or an editor's credentials; {HOW}")
    abort(403, description=f"{who.name} is not an editor of any collection (or the token lacks the write scope)")
