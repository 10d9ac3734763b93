"""Who is asking: the principal of a request, and which collections it may read or change.

A request is anonymous unless it proves otherwise. Credentials, strongest first: the admin token of
settings (`POLICY_SEARCH_ADMIN_TOKEN`, one admin credential among the others), an API token
(`Authorization: Bearer`), a reverse proxy's identity header (only from configured proxy addresses), a
session cookie. Roles are per collection (reader < editor < admin; the collection `*` means every one).
Anonymous readers read only public collections.
"""

from __future__ import annotations

import hmac
import ipaddress
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

    def editable(self) -> Scope:
        """Collections this principal may add documents to or remove them from (None: all; needs `write`)."""
        if self.is_admin:
            return None
        if not self.allows("write"):
            return frozenset()
        if self.has("editor", ALL):
            return None
        return frozenset(c for c, r in self.roles.items() if c != ALL and ROLES.index(r) >= ROLES.index("editor"))

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


def token_bytes(given: str) -> bytes:
    """The header's raw bytes: WSGI hands headers over decoded as Latin-1, so a UTF-8 token sent as
    UTF-8 comes back byte for byte this way (a str that is not Latin-1 came from elsewhere: UTF-8)."""
    try:
        return given.encode("latin-1")
    except UnicodeEncodeError:
        return given.encode("utf-8")


def _is_admin_token(given: str) -> bool:
    token = current_settings().admin_token
    return bool(token and given) and hmac.compare_digest(token_bytes(given), token.encode("utf-8"))


SESSION_COOKIE = "ps_session"


def _from_trusted_proxy() -> bool:
    """Whether the peer is one of the configured reverse proxies (only they may assert an identity)."""
    raw = current_settings().trusted_proxies
    if not raw.strip() or not request.remote_addr:
        return False
    try:
        peer = ipaddress.ip_address(request.remote_addr)
        return any(peer in ipaddress.ip_network(n.strip(), strict=False) for n in raw.split(",") if n.strip())
    except ValueError:
        return False


def proxy_user() -> str | None:
    """The user a trusted reverse proxy vouches for; the header from anyone else is ignored."""
    name = request.headers.get(current_settings().proxy_user_header, "").strip()
    if not name or len(name) > 64 or not _from_trusted_proxy():
        return None
    return name


def _identify() -> Principal:
    from search_app import accounts

    given = bearer_token()
    if given and _is_admin_token(given):
        return ADMIN_TOKEN
    store = accounts.current_store()
    if store is None:
        return ANONYMOUS
    by_token = accounts.identify(store, given)
    if by_token is not None:
        return by_token
    proxied = proxy_user()
    if proxied is not None:  # SSO: the proxy signed them in; roles come from the accounts store
        disabled = any(u["disabled"] for u in store.users() if u["name"] == proxied)
        return ANONYMOUS if disabled else Principal(name=proxied, via="proxy", roles=store.roles(proxied))
    session = store.session(request.cookies.get(SESSION_COOKIE, ""))
    if session is not None:
        g.session = session
        return Principal(name=session.user, via="session", roles=store.roles(session.user))
    return ANONYMOUS


def current_principal() -> Principal:
    """The principal of this request, worked out once (anonymous outside a request)."""
    if not has_request_context():
        return ANONYMOUS
    if "principal" not in g:
        try:
            g.principal = _identify()
        except Exception:
            g.principal = ANONYMOUS  # the error page for a bad token renders as anonymous
            raise
    return g.principal


def current_readable() -> Scope:
    """Collections the current request may read (None: every one)."""
    return current_principal().readable(public_collections())


def read_only_collections() -> frozenset[str]:
    """Collections whose documents are read on screen only (no export rows, no copy-permalink)."""
    from search_app import accounts

    store = accounts.current_store()
    return store.read_only_collections() if store is not None else frozenset()
