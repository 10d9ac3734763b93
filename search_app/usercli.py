"""`python -m search_app users ...`: manage accounts from the shell (the first admin is made here).

python -m search_app users add li --role '*=admin'          # asks for the password twice
python -m search_app users add wang --role 办公室=reader --password-stdin < pw.txt
python -m search_app users grant wang 宣传部 editor
python -m search_app users token wang --scope read --label nightly-batch   # prints the token once
python -m search_app users collection 办公室 --read-only                    # flags: --public, --read-only
python -m search_app users list
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import TextIO

from indexer.config import Settings
from search_app.accounts import SCOPES, AccountError, AccountStore
from search_app.audit import AuditLog


def add_parser(sub) -> None:
    users = sub.add_parser("users", help="manage users, roles, collections and API tokens")
    users.add_argument("--index", type=Path, help="index folder (the accounts file lives there)")
    act = users.add_subparsers(dest="action", required=True)
    add = act.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", action="append", default=[], metavar="COLLECTION=ROLE", help="e.g. '*=admin'")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--no-password", action="store_true", help="no password: signs in through the proxy only")
    grant = act.add_parser("grant", help="give a user a role in a collection ('*': all)")
    grant.add_argument("name")
    grant.add_argument("collection")
    grant.add_argument("role", choices=("reader", "editor", "admin"))
    token = act.add_parser("token", help="create an API token (printed once)")
    token.add_argument("name")
    token.add_argument("--scope", action="append", choices=SCOPES, required=True)
    token.add_argument("--label", default="")
    coll = act.add_parser("collection", help="set a collection's flags")
    coll.add_argument("collection")
    coll.add_argument("--public", action="store_true")
    coll.add_argument("--read-only", action="store_true")
    act.add_parser("list", help="users, their roles and the collections")


def _password(args, stdin: TextIO) -> str | None:
    if args.no_password:
        return None
    if args.password_stdin:
        return stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise AccountError("the two passwords differ")
    return first


def run(args: argparse.Namespace, settings: Settings, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    store, log = AccountStore.from_settings(settings), AuditLog.from_settings(settings)
    try:
        if args.action == "add":
            store.add_user(args.name, _password(args, stdin))
            for spec in args.role:
                collection, _, role = spec.partition("=")
                store.grant(args.name, collection, role)
            log.write("admin.add-user", "shell", via="shell", target=args.name, roles=args.role)
        elif args.action == "grant":
            store.grant(args.name, args.collection, args.role)
            log.write("admin.grant", "shell", via="shell", target=args.name, collection=args.collection, role=args.role)
        elif args.action == "token":
            token_id, secret = store.create_token(args.name, args.scope, args.label)
            log.write("admin.create-token", "shell", via="shell", target=args.name, token_id=token_id)
            print(secret, file=out)
        elif args.action == "collection":
            store.set_collection(args.collection, args.public, args.read_only)
            log.write(
                "admin.collection",
                "shell",
                via="shell",
                collection=args.collection,
                public=args.public,
                read_only=args.read_only,
            )
        else:
            for u in store.users():
                roles = ", ".join(f"{c}={r}" for c, r in u["roles"].items()) or "-"
                print(f"{u['name']}\t{roles}\t{'disabled' if u['disabled'] else 'enabled'}", file=out)
            for c in store.collections():
                print(f"collection {c.name}\tpublic={int(c.public)}\tread_only={int(c.read_only)}", file=out)
    except AccountError as exc:
        print(f"error: {exc}", file=err)
        return 2
    return 0
