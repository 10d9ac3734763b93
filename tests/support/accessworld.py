"""A small world of collections and people, for the access tests (web layer and browser).

Documents: one public, one in collection A (办公室), one in B (宣传部), one in both A and B, and one in a
read-only collection R (内部资料, readable by A's reader). Every passage shares the words of QUERY, so each
one would be found if access did not stop it; each unreadable document carries unique marker strings
(its id, title and a secret phrase) that must never appear in a response of someone who may not read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from indexer.backend import open_store
from indexer.chunking import CHUNKER_VERSION
from indexer.config import Settings
from indexer.metadata import DEFAULT_COLLECTION
from search_app.accounts import AccountStore
from tests.support.fakes import FakeEmbedder
from tests.support.helpers import make_content
from tests.support.settings import test_settings

A, B, R = "办公室", "宣传部", "内部资料"
QUERY = "推动高质量发展"
ADMIN_TOKEN = "matrix-admin-token-0123456789"
PASSWORD = "correct horse battery"

PASSAGES = {
    "open1": (
        "公开发展报告",
        {"year": 2024, "type": "report"},
        [(["一、总体"], "推动高质量发展，公开段落说明就业。"), (["二、目标"], "推动高质量发展，公开目标。")],
    ),
    "office1": (
        "办公室值班通知甲",
        {"year": 2023, "type": "notice", "collections": [A]},
        [(["一、要求"], "推动高质量发展，甲机密值班安排。")],
    ),
    "press1": (
        "宣传部口径通知乙",
        {"year": 2022, "type": "notice", "collections": [B]},
        [(["一、口径"], "推动高质量发展，乙机密宣传口径。")],
    ),
    "joint1": (
        "联合工作意见丙",
        {"year": 2021, "type": "other", "collections": [A, B]},
        [(["一、意见"], "推动高质量发展，丙联合意见。")],
    ),
    "ro1": (
        "内部资料汇编丁",
        {"year": 2020, "type": "other", "collections": [R]},
        [(["一、资料"], "推动高质量发展，丁只读资料原文。")],
    ),
}

# What each document would reveal of itself: id, title, a phrase of its text.
MARKERS = {
    "office1": ("office1", "办公室值班通知甲", "甲机密值班安排"),
    "press1": ("press1", "宣传部口径通知乙", "乙机密宣传口径"),
    "joint1": ("joint1", "联合工作意见丙", "丙联合意见"),
    "ro1": ("ro1", "内部资料汇编丁", "丁只读资料原文"),
}
COLLECTIONS = {"office1": {A}, "press1": {B}, "joint1": {A, B}, "ro1": {R}, "open1": {DEFAULT_COLLECTION}}


@dataclass
class World:
    settings: Settings
    store: AccountStore
    tokens: dict[str, str]  # user -> an API token with the read scope


# name -> roles
USERS = {
    "reader_a": {A: "reader", R: "reader"},
    "reader_b": {B: "reader"},
    "editor": {A: "editor"},
    "admin": {"*": "admin"},
}


def build(tmp: Path, **settings_overrides) -> World:
    """Index the documents, create the users (cheap argon2 parameters: a test, not a deployment)."""
    overrides = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "admin_token": ADMIN_TOKEN, **settings_overrides}
    settings = test_settings(index_dir=tmp / "index", **overrides)
    embedder = FakeEmbedder()
    backend = open_store(settings)
    with backend.lock():
        manifest = {"model": embedder.name, "dim": embedder.dim, "chunker": CHUNKER_VERSION}
        backend.write(make_content(embedder, PASSAGES), manifest)
    return _people(settings)


def build_real(tmp: Path, model_dir: Path, **settings_overrides) -> World:
    """The same world indexed for real: text files through `indexer add --collection`'s path, the real model."""
    from indexer.embedding import load_embedder
    from indexer.pipeline import add_documents

    overrides = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "admin_token": ADMIN_TOKEN, **settings_overrides}
    settings = test_settings(index_dir=tmp / "index", model=str(model_dir), **overrides)
    embedder = load_embedder(settings)
    for doc_id, (title, meta, sections) in PASSAGES.items():
        folder = tmp / "docs" / doc_id
        folder.mkdir(parents=True)
        path = folder / f"{doc_id}.txt"
        path.write_text(title + "\n" + "\n".join(f"{h[0]}\n{body}" for h, body in sections), encoding="utf-8")
        given = {"title": title, "collections": meta.get("collections")}
        report = add_documents([path], settings, embedder=embedder, overrides={k: v for k, v in given.items() if v})
        assert report.added == [doc_id] and not report.errors, report
    return _people(settings)


def _people(settings: Settings) -> World:
    store = AccountStore.from_settings(settings)
    store.set_collection(R, public=False, read_only=True)
    tokens = {}
    for name, roles in USERS.items():
        store.add_user(name, PASSWORD)
        for collection, role in roles.items():
            store.grant(name, collection, role)
        tokens[name] = store.create_token(name, ["read"], "matrix")[1]
    return World(settings, store, tokens)


def readable_docs(user: str | None) -> set[str]:
    """The documents `user` (None: anonymous) may read."""
    if user == "admin":
        return set(PASSAGES)
    roles = USERS.get(user or "", {})
    return {d for d, cs in COLLECTIONS.items() if DEFAULT_COLLECTION in cs or cs & set(roles)}
