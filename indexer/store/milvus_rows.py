"""The two collections' schemas and the rows a version writes into them: chunks, documents in parts, the
manifest. Checked against Milvus's VARCHAR limit before anything is written."""

from __future__ import annotations

import json

from indexer.errors import SearchEngineError
from indexer.models import Document
from indexer.store.core import IndexContent
from indexer.store.milvus_client import MAX_VARCHAR, PART_CHARS, year_of


def chunk_schema(dim: int, sparse: bool = False):
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description="policy-search chunks")
    s.add_field("row", DataType.INT64, is_primary=True)
    for name in ("chunk_id", "doc_id", "doc_type", "heading_path", "text", "tokens"):
        s.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    for name in ("doc_index", "year", "ordinal", "start", "end", "page", "gen"):
        s.add_field(name, DataType.INT64)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    if sparse:  # BM25 in the store (milvus_sparse.py): term saturations and the passage's token count
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        s.add_field("length", DataType.INT64)
    return s


def docs_schema():
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description="policy-search documents")
    s.add_field("pk", DataType.INT64, is_primary=True)
    s.add_field("doc_index", DataType.INT64)  # -1: the manifest
    s.add_field("part", DataType.INT64)
    s.add_field("gen", DataType.INT64)  # the write (generation) that inserted the row
    for name in ("doc_id", "title", "source_path", "content_hash", "body"):
        s.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    s.add_field("meta", DataType.JSON)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    return s


def split_text(text: str) -> list[str]:
    return [text[i : i + PART_CHARS] for i in range(0, len(text), PART_CHARS)] or [""]


def check_len(value: str, what: str) -> str:
    if len(value) * 4 > MAX_VARCHAR and len(value.encode("utf-8")) > MAX_VARCHAR:  # 4: the most bytes a char takes
        raise SearchEngineError(f"{what} is over Milvus's {MAX_VARCHAR}-byte VARCHAR limit; lower chunk_max_chars")
    return value


def check_chunks(content: IndexContent) -> None:
    """Refuse, before anything is written, a chunk whose text, heading or tokens would not fit a VARCHAR."""
    for c, toks in zip(content.chunks, content.tokens):
        check_len(json.dumps(c.heading_path, ensure_ascii=False), f"{c.chunk_id} heading")
        check_len(c.text, f"{c.chunk_id} text")
        check_len(" ".join(toks), f"{c.chunk_id} tokens")


def chunk_rows(
    content: IndexContent, row0: int, doc0: int, gen: int, lo: int = 0, hi: int | None = None
) -> list[dict]:
    """The Milvus rows of content's chunks lo..hi-1 (all by default); chunk i is row row0 + i."""
    doc_index = {d.doc_id: doc0 + i for i, d in enumerate(content.documents)}
    meta = {d.doc_id: d.meta for d in content.documents}
    rows = []
    pairs = zip(content.chunks[lo:hi], content.tokens[lo:hi])
    for row, (c, toks) in enumerate(pairs, start=row0 + lo):
        m = meta[c.doc_id]
        rows.append(
            {
                "row": row,
                "gen": gen,
                "chunk_id": c.chunk_id,
                "doc_index": doc_index[c.doc_id],
                "doc_id": c.doc_id,
                "year": year_of(m.get("year")),
                "doc_type": str(m.get("type") or ""),
                "ordinal": c.ordinal,
                "heading_path": json.dumps(c.heading_path, ensure_ascii=False),
                "text": c.text,
                "start": c.start,
                "end": c.end,
                "page": -1 if c.page is None else c.page,
                "tokens": " ".join(toks),
            }
        )
    return rows


PLACEHOLDER = [1.0, 0.0]
EMPTY_DOC = {"doc_id": "", "title": "", "source_path": "", "content_hash": "", "meta": {}, "vector": PLACEHOLDER}


def add_sparse(chunk_rows: list[dict], weights: list[dict], tokens: list[list[str]]) -> None:
    """Give chunk rows their BM25 sparse vector and token count (versions written with sparse vectors)."""
    for r, w, t in zip(chunk_rows, weights, tokens):
        r["sparse"], r["length"] = w, len(t)


def doc_rows(documents: list[Document], pk0: int, doc0: int, gen: int) -> list[dict]:
    rows = []
    for i, d in enumerate(documents, start=doc0):
        for part, body in enumerate(split_text(d.text)):
            head = part == 0
            rows.append(
                {
                    "pk": pk0 + len(rows),
                    "gen": gen,
                    "doc_index": i,
                    "part": part,
                    "doc_id": d.doc_id,
                    "title": d.title if head else "",
                    "source_path": d.source_path if head else "",
                    "content_hash": d.content_hash if head else "",
                    "meta": d.meta if head else {},
                    "body": body,
                    "vector": PLACEHOLDER,
                }
            )
    return rows


def manifest_rows(manifest: dict, first_pk: int, gen: int) -> list[dict]:
    text = json.dumps(manifest, ensure_ascii=False)
    return [
        {
            "pk": first_pk + part,
            "gen": gen,
            "doc_index": -1,
            "part": part,
            "doc_id": "",
            "title": "",
            "source_path": "",
            "content_hash": "",
            "meta": {},
            "body": body,
            "vector": PLACEHOLDER,
        }
        for part, body in enumerate(split_text(text))
    ]
