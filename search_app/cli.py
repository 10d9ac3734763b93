"""Command line: `serve` the web app with waitress, or `query` the index in batch.

Both build their settings with `Settings.from_env(...)`, so POLICY_SEARCH_* variables
and flags go through one path (flags win). Exit code 2 means the user must fix
something (arguments, missing index, empty query file); 1 means the index or model
itself is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from indexer import backend, limits, ordering, retrieval
from indexer.config import Settings
from indexer.errors import IndexNotFoundError, QueryError, SearchEngineError
from search_app import params, usercli
from search_app.errors import message_of
from search_app.output import FORMATS, WRITERS

EXIT_OK, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2
MODEL_HELP = "embedding model id or folder; must be the one that built the index (env POLICY_SEARCH_MODEL)"


class UsageError(Exception):
    """Bad arguments or input files: message printed, exit code 2."""


def _ordering_arguments(query: argparse.ArgumentParser) -> None:
    """--sort and --group: how each query's results are ordered (indexer.ordering.SearchOptions)."""
    query.add_argument("--sort", choices=ordering.SORTS, default="relevance", help="order (default: relevance)")
    query.add_argument("--group", action="store_true", help="one passage per document")


def _official_filter_arguments(query: argparse.ArgumentParser) -> None:
    """--issuer and --doc-number-year: the GB/T 9704 fields as filters (indexer.official)."""
    query.add_argument(
        "--issuer", action="append", metavar="BODY", help="only documents of this issuing body (发文机关; repeatable)"
    )
    query.add_argument(
        "--doc-number-year", action="append", metavar="YEAR", help="only documents whose 发文字号 has this year"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search_app", description="Chinese policy document search.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,query,users}")

    serve = sub.add_parser("serve", help="run the web app (waitress)", description="Serve the search web app.")
    serve.add_argument("--index", type=Path, help="index folder (default: data/index or POLICY_SEARCH_INDEX_DIR)")
    serve.add_argument(
        "--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for the whole network)"
    )
    serve.add_argument("--port", type=int, help="port (default 5000; 0 picks a free one)")
    serve.add_argument("--threads", type=int, help="worker threads (default from settings)")
    serve.add_argument("--model", help=MODEL_HELP)

    query = sub.add_parser(
        "query",
        help="search in batch from arguments, a file or stdin",
        description="Run queries through one batched search; write JSONL, CSV or a table.",
    )
    query.add_argument(
        "queries", nargs="*", metavar="QUERY", help="queries; a single '-' reads them from stdin"
    )
    query.add_argument("--file", "-f", help="file with one query per line (UTF-8 or GB18030); '-' is stdin")
    query.add_argument(
        "--index", type=Path, help="index folder (default: data/index or POLICY_SEARCH_INDEX_DIR)"
    )
    query.add_argument("--model", help=MODEL_HELP)
    query.add_argument("--k", "-k", type=int, help="results per query (default from settings)")
    query.add_argument("--mode", "-m", help=f"one of {', '.join(retrieval.MODES)} (default from settings)")
    query.add_argument("--year-from", metavar="YEAR", help="only documents from this year on")
    query.add_argument("--year-to", metavar="YEAR", help="only documents up to this year")
    query.add_argument(
        "--type",
        action="append",
        metavar="TYPE",
        help="only this document type (speech, report, resolution, notice, other); repeat or comma-separate",
    )
    query.add_argument("--doc", action="append", metavar="DOC_ID", help="only this document (repeatable)")
    query.add_argument(
        "--collection",
        dest="collections",
        action="append",
        metavar="NAME",
        help="only documents of this collection (repeat or comma-separate; the shell reads every collection)",
    )
    _official_filter_arguments(query)
    _ordering_arguments(query)
    query.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    query.add_argument(
        "--output",
        "-o",
        type=Path,
        help="write to this file instead of stdout (CSV gets a BOM so Excel reads the Chinese)",
    )
    usercli.add_parser(sub)
    return parser


def _settings(**overrides) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"bad setting: {exc}") from exc


def _decode(data: bytes, name: str, err: TextIO) -> str:
    """UTF-8 (with or without BOM); else GB18030, which is what Windows Notepad saves as 'ANSI' in China."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is neither UTF-8 nor GB18030 text") from exc
    print(f"note: {name} is not UTF-8; read it as GB18030", file=err)
    return text


def read_queries(args: argparse.Namespace, stdin: TextIO, err: TextIO) -> list[str]:
    """Queries from arguments, --file or stdin; blank lines are skipped."""
    queries, source = list(args.queries), args.file
    if queries == ["-"]:
        if source is not None:
            raise UsageError("give '-' (stdin) or --file, not both")
        queries, source = [], "-"
    if source is not None and queries:
        raise UsageError("give queries as arguments or with --file, not both")
    if source is None:
        if not queries:
            raise UsageError("no query given: pass QUERY arguments, --file FILE, or '-' to read stdin")
        return queries
    if source == "-":
        buffer = getattr(stdin, "buffer", None)
        text = _decode(buffer.read(), "stdin", err) if buffer is not None else stdin.read()
        name = "stdin"
    else:
        path = Path(source)
        try:
            text = _decode(path.read_bytes(), str(path), err)
        except OSError as exc:
            raise UsageError(f"cannot read query file {path}: {exc.strerror or exc}") from exc
        name = str(path)
    queries = [line.strip() for line in text.splitlines() if line.strip()]
    if not queries:
        raise UsageError(f"no queries in {name} (it is empty or holds only blank lines)")
    return queries


def _open_engine(settings: Settings):
    return retrieval.SearchEngine.open(settings)


def _utf8(out: TextIO) -> None:
    """JSONL/CSV piped on Windows would otherwise be written in the ANSI code page."""
    if out is sys.__stdout__ and not out.isatty() and (out.encoding or "").lower().replace("-", "") != "utf8":
        try:
            out.reconfigure(encoding="utf-8")
        except (AttributeError, ValueError, OSError):
            pass


def cmd_query(
    args, stdin: TextIO, out: TextIO, err: TextIO, open_engine: Callable[[Settings], object]
) -> int:
    settings = _settings(index_dir=args.index, model=args.model)
    queries = read_queries(args, stdin, err)
    k = args.k if args.k is not None else settings.default_k
    mode = params.parse_mode(args.mode, settings)
    cleaned: list[str] = []
    for i, q in enumerate(queries, 1):
        try:
            p = params.validate(q, k, mode, settings)
        except QueryError as exc:
            where = f"query {i}" if len(queries) > 1 else "query"
            raise UsageError(f"{where}: {exc}") from exc
        cleaned.append(p.query)
        k, mode = p.k, p.mode
    try:
        filters = params.parse_filters(
            args.year_from, args.year_to, args.type, args.doc, args.collections, args.issuer, args.doc_number_year
        )
    except QueryError as exc:
        raise UsageError(str(exc)) from exc
    engine = open_engine(settings)  # loaded once, after the cheap checks
    try:
        params.check_against(filters, engine)
    except QueryError as exc:
        raise UsageError(str(exc)) from exc
    # One call: queries are embedded as a batch.
    options = ordering.SearchOptions(sort=args.sort, group=args.group)
    responses = engine.search_many(cleaned, k=k, mode=mode, filters=filters, options=options)
    writer = WRITERS[args.format]
    if args.output is None:
        _utf8(out)
        writer(responses, out)
        out.flush()
        return EXIT_OK
    encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
    try:
        with open(args.output, "w", encoding=encoding, newline="") as fh:
            writer(responses, fh)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    print(f"wrote {len(responses)} queries to {args.output}", file=err)
    return EXIT_OK


WARM_UP_QUERIES = ('"预热" -预热预热 year:2000..2100', "预热 检索")  # the phrase scan and the plain path


def _warm_up(app, out: TextIO, err: TextIO, url: str = "") -> None:
    """Load index, model and tokenizer and run queries before the first visitor, then say it is ready.

    Until then /api/health answers 503 {"status": "starting"}; with no index, warn and serve 503s.
    """
    from search_app.highlight import query_terms
    from search_app.state import EXTENSION_KEY

    holder = app.extensions[EXTENSION_KEY]
    try:
        with limits.budget(float("inf"), limits.BATCH):  # visitors' first queries go before the warm-up's
            engine = holder.get(refresh=False)
            engine.warm_up()
            for q in WARM_UP_QUERIES:
                engine.search(q, k=1)
        query_terms("预热")
        print(f"Ready: {url or 'the search page'} answers now", file=out, flush=True)
    except IndexNotFoundError as exc:
        print(f"warning: {message_of(exc)} Until then the app answers 503.", file=err, flush=True)
    except SearchEngineError as exc:
        print(f"warning: the search engine cannot open: {message_of(exc)}", file=err, flush=True)
    except Exception as exc:  # a warm-up failure must not stop the server; requests will report it
        print(
            f"warning: warm-up failed ({type(exc).__name__}: {exc}); the first search will retry",
            file=err,
            flush=True,
        )
    finally:
        holder.end_warm_up()


def cmd_serve(args, out: TextIO, err: TextIO) -> int:
    from search_app import create_app
    from search_app.serving import browser_url, listen_addresses, make_server

    settings = _settings(
        index_dir=args.index, model=args.model, host=args.host, port=args.port, threads=args.threads
    )
    if settings.threads < 1:
        raise UsageError(f"--threads must be at least 1, not {settings.threads}")
    if not 0 <= settings.port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, not {settings.port}")
    app = create_app(settings)
    try:
        server = make_server(app, settings.host, settings.port, settings.threads)
    except OSError as exc:
        raise UsageError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from exc
    for host, port in listen_addresses(server):
        print(f"Policy search: {browser_url(host, port)}", file=out)
    where = backend.describe(settings)
    print(f"  index {where} · {settings.threads} threads · Ctrl+C to stop", file=out, flush=True)
    from search_app.state import EXTENSION_KEY

    app.extensions[EXTENSION_KEY].begin_warm_up()
    first = next(iter(listen_addresses(server)), None)
    url = browser_url(*first) if first else ""
    threading.Thread(target=_warm_up, args=(app, out, err, url), name="warm-up", daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def main(
    argv: list[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    open_engine: Callable[[Settings], object] | None = None,
) -> int:
    """Entry point; streams and the engine opener are injectable so tests run it in-process."""
    stdin, out, err = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):  # --help and usage errors
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the reason
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        if args.command == "serve":
            return cmd_serve(args, out, err)
        if args.command == "users":
            return usercli.run(args, _settings(index_dir=args.index), stdin, out, err)
        return cmd_query(args, stdin, out, err, open_engine or _open_engine)
    except UsageError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    except IndexNotFoundError as exc:
        print(f"error: {message_of(exc)}", file=err)
        return EXIT_USAGE
    except SearchEngineError as exc:
        print(f"error: {message_of(exc)}", file=err)
        return EXIT_BROKEN
    except BrokenPipeError:  # e.g. `... | head`: not an error worth a traceback
        return EXIT_OK
