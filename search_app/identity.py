"""Who is asking: the principal of a request, and which collections it may read or change.

A request is anonymous unless it proves otherwise. Credentials, strongest first: the admin token of
settings (`POLICY_SEARCH_ADMIN_TOKEN`, one admin credential among the others), an API token
(`Authorization: Bearer`), a reverse proxy's identity header (only from configured proxy addresses), a
session cookie. Roles are per collection (reader < editor < admin; the collection `*` means every one).
Anonymous readers read only public collections.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import g, has_request_context, request

from indexer.access import Scope
from search_app.state import current_settings

ROLES = ("reader", "editor", "admin")
ALL = "*"


@dataclass(frozen=True)
class Principal:
    """A signed-in user, a script's token, or nobody; `roles` maps a collection (or `*`) to a role."""

    name: str = ""
    via: str = "anonymous"  # anonymous | session | token | proxy | admin-token
    roles: Mapping[str, str] = field(default_factory=dict)
    scopes: frozenset[str] | None = None  # an API token's scopes; None: whatever the roles allow

    @property
    def anonymous(self) -> bool:
        return not self.name

    def allows(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def role_in(self, collection: str) -> str | None:
        """The strongest role this principal holds in `collection` (a `*` role counts everywhere)."""
        held = [r for c, r in self.roles.items() if c in (collection, ALL)]
        return max(held, key=ROLES.index) if held else None

    def has(self, role: str, collection: str = ALL) -> bool:
        mine = self.role_in(collection)
        return mine is not None and ROLES.index(mine) >= ROLES.index(role)

    @property
    def is_admin(self) -> bool:
        """Admin of every collection: may use the admin page and the admin API."""
        return self.roles.get(ALL) == "admin" and self.allows("admin")

    def readable(self, public: frozenset[str]) -> Scope:
        """Collections this principal may read: public ones plus those it holds a role in (None: all)."""
        if not self.allows("read"):
            return public
        if ALL in self.roles:
            return None
        return public | frozenset(self.roles)


ANONYMOUS = Principal()
ADMIN_TOKEN = Principal(name="admin-token", via="admin-token", roles={ALL: "admin"})


def public_collections() -> frozenset[str]:
    """Collections anyone may read."""
    from search_app import accounts

    store = accounts.current_store()
    if store is not None:
        return store.public_collections()
    return frozenset(c.strip() for c in current_settings().public_collections.split(",") if c.strip())


def bearer_token() -> str:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("X-Admin-Token", "").strip()


def _is_admin_token(given: str) -> bool:
    token = current_settings().admin_token
    return bool(token and given) and hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _identify() -> Principal:
    from search_app import accounts

    given = bearer_token()
    if given and _is_admin_token(given):
        return ADMIN_TOKEN
    store = accounts.current_store()
    if store is None:
        return ANONYMOUS
    return accounts.identify(store, given) or ANONYMOUS


def current_principal() -> Principal:
    """The principal of this request, worked out once (anonymous outside a request)."""
    if not has_request_context():
        return ANONYMOUS
    if "principal" not in g:
        g.principal = _identify()
    return g.principal


def current_readable() -> Scope:
    """Collections the current request may read (None: every one)."""
    return current_principal().readable(public_collections())
