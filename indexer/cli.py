"""`python -m indexer build|add|remove|list|optimize|migrate-to-milvus`: maintain the index from the shell."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from indexer.access import collections_of
from indexer.config import Settings
from indexer.errors import SearchEngineError
from indexer.metadata import DEFAULT_COLLECTION, FIELDS, TYPES
from indexer.pipeline import (
    BuildReport,
    add_documents,
    build_index,
    list_documents,
    optimize_index,
    refresh_metadata,
    remove_documents,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m indexer", description="Build and update the search index.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, help="index folder (default data/index, env POLICY_SEARCH_INDEX_DIR)")
    common.add_argument("--model", help="embedding model id or folder (env POLICY_SEARCH_MODEL)")
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", parents=[common], help="index these files/folders afresh (default: seeds/)")
    b.add_argument("paths", nargs="*", type=Path)
    a = sub.add_parser("add", parents=[common], help="add or replace documents; unchanged ones are skipped")
    a.add_argument("paths", nargs="+", type=Path)
    meta = a.add_argument_group("metadata for every file of this call (wins over sidecars and the files' own)")
    meta.add_argument("--title", help="document title")
    meta.add_argument("--type", choices=TYPES, help="document type")
    meta.add_argument("--year", type=int, help="year, for the year filter")
    meta.add_argument("--date", help="date, e.g. 2024-03-05")
    meta.add_argument("--source", help="where the document comes from (a URL or a name)")
    meta.add_argument(
        "--collection",
        dest="collections",
        action="append",
        metavar="NAME",
        help=f"collection the documents belong to (repeatable; default {DEFAULT_COLLECTION}, public when fresh)",
    )
    r = sub.add_parser("remove", parents=[common], help="remove documents by id")
    r.add_argument("doc_ids", nargs="+")
    sub.add_parser("optimize", parents=[common], help="merge the index's segments into one (same results)")
    sub.add_parser(
        "refresh-meta", parents=[common], help="re-derive years and types of indexed documents (no re-embedding)"
    )
    ls = sub.add_parser("list", parents=[common], help="list indexed documents")
    ls.add_argument("--json", action="store_true", help="JSON output")
    m = sub.add_parser(
        "migrate-to-milvus", parents=[common], help="copy the live FAISS index (--index) into Milvus, no re-embedding"
    )
    m.add_argument("--uri", help="a Milvus Lite file (data/milvus.db) or http://host:19530 (env ..._MILVUS_URI)")
    m.add_argument("--collection", help="collection/alias name (env POLICY_SEARCH_MILVUS_COLLECTION)")
    return p


def _print_report(report: BuildReport) -> None:
    for err in report.errors:
        print(f"skipped: {err}", file=sys.stderr)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(report.summary())


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env(index_dir=args.index, model=args.model)
    progress = not args.quiet and sys.stderr.isatty()
    try:
        if args.command == "migrate-to-milvus":
            return _migrate(args, settings)
        if args.command == "build":
            _print_report(build_index(args.paths or [settings.seeds_dir], settings, progress=progress))
        elif args.command == "add":
            overrides = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
            _print_report(add_documents(args.paths, settings, progress=progress, overrides=overrides or None))
        elif args.command == "refresh-meta":
            _print_report(refresh_metadata(settings))
        elif args.command == "remove":
            report = remove_documents(args.doc_ids, settings)
            _print_report(report)
            return 0 if report.removed else 1
        elif args.command == "optimize":
            _print_report(optimize_index(settings))
        else:
            docs = list_documents(settings)
            if args.json:
                print(json.dumps(docs, ensure_ascii=False, indent=1))
            for d in [] if args.json else docs:
                meta = d.get("meta") or {}
                year, kind = meta.get("year") or "-", meta.get("type") or "-"
                names = ",".join(collections_of(meta))
                print(f"{d['doc_id']}\t{year}\t{kind}\t{d['chunks']} chunks\t{names}\t{d['title']}")
    except SearchEngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _migrate(args, settings: Settings) -> int:
    from indexer.store.milvus import MilvusStore, migrate_from_faiss

    uri = args.uri or settings.milvus_uri
    if not uri:
        print("error: give --uri (or set POLICY_SEARCH_MILVUS_URI)", file=sys.stderr)
        return 2
    collection = args.collection or settings.milvus_collection
    target = dataclasses.replace(settings, milvus_uri=uri, milvus_collection=collection)
    name, n_docs, n_chunks = migrate_from_faiss(settings.index_dir, MilvusStore.from_settings(target))
    print(f"copied {n_docs} documents, {n_chunks} chunks from {settings.index_dir} to Milvus {uri} as {name}")
    print(f"use it with POLICY_SEARCH_MILVUS_URI={uri} POLICY_SEARCH_MILVUS_COLLECTION={target.milvus_collection}")
    return 0
